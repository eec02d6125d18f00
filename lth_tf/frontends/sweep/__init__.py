"""Sweeps: a grid of settings times seeds, each cell an ordinary run directory."""
