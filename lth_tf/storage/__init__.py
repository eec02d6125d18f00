"""The storage layer: the run directory on disk. No TensorFlow.

`rundir` spells every name of the run directory and holds every read; `store`
(`RunStore`) is the only writer; `atomic` writes files and folders whole or not
at all; `lock` keeps a run to one process; `summary` builds summary.json.
Imports only the core.
"""
