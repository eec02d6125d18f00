"""Experiment configuration: frozen dataclasses, TOML, presets, overrides, hash.

No TensorFlow here, so config handling tests run in milliseconds.

The canonical string of an Experiment lists only the fields that differ from
their defaults (as open_lth does); its MD5 names the run directory. Adding a new
field with a default therefore never renames an existing run, and running the
same config again finds the same directory and resumes.

The package is the one public face (`from lth_tf.core import config as C`; `__all__`
holds only public names); each concept lives in its own module:
- `schema`: the section dataclasses (Data, Model, Train, Prune, Distill) and the
  names their fields accept. A new setting is a field here...
- `validation`: ...plus its check in `validate()`.
- `experiment`: `Experiment` (canonical string, hash, run name, `values_by_key`).
- `coerce`: a value (TOML or --set string) converted to its field's type.
- `overrides`: `from_dict`, `set_value`, `all_keys`, `resolve`.
- `presets`: the shipped presets. `toml_io`: `load_toml`, `dumps_toml`.
"""

from lth_tf.core.config.experiment import Experiment, safe_label
from lth_tf.core.config.overrides import all_keys, from_dict, resolve, set_value
from lth_tf.core.config.presets import preset_description, preset_names
from lth_tf.core.config.schema import (
    AUTO,
    CONTROL_KINDS,
    DATASETS,
    GRAPH_DATASETS,
    GRAPH_MODELS,
    LIMITS,
    MODELS,
    OPTIMIZERS,
    PRE_AUTO_DEFAULTS,
    PRECISIONS,
    SCHEDULES,
    SCOPES,
    SECTIONS,
    SEED_MAX,
    STRUCTURES,
    TOP_LEVEL,
    Data,
    Distill,
    Model,
    Prune,
    Train,
)
from lth_tf.core.config.toml_io import dumps_toml, load_toml
from lth_tf.core.config.validation import validate
from lth_tf.core.errors import LthError

__all__ = [
    "AUTO",
    "CONTROL_KINDS",
    "DATASETS",
    "GRAPH_DATASETS",
    "GRAPH_MODELS",
    "LIMITS",
    "MODELS",
    "OPTIMIZERS",
    "PRECISIONS",
    "PRE_AUTO_DEFAULTS",
    "SCHEDULES",
    "SCOPES",
    "SECTIONS",
    "SEED_MAX",
    "STRUCTURES",
    "TOP_LEVEL",
    "Data",
    "Distill",
    "Experiment",
    "LthError",
    "Model",
    "Prune",
    "Train",
    "all_keys",
    "dumps_toml",
    "from_dict",
    "load_toml",
    "preset_description",
    "preset_names",
    "resolve",
    "safe_label",
    "set_value",
    "validate",
]
