"""Screens: pick a preset (start), watch and step through a run (run)."""

from tui.screens.run import RunScreen
from tui.screens.start import StartScreen

__all__ = ["RunScreen", "StartScreen"]
