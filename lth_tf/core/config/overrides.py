"""Building an Experiment: preset, then TOML file, then `key=value` overrides."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from lth_tf.core.config.coerce import _coerce
from lth_tf.core.config.experiment import Experiment
from lth_tf.core.config.presets import _read_preset
from lth_tf.core.config.schema import SECTIONS, TOP_LEVEL
from lth_tf.core.config.toml_io import load_toml
from lth_tf.core.config.validation import validate
from lth_tf.core.errors import LthError


def from_dict(raw: dict[str, Any], base: Experiment | None = None) -> Experiment:
    """Layer `raw` (as read from TOML) over `base`, type-checking every key."""
    exp = base or Experiment()
    raw = dict(raw)
    raw.pop("description", None)  # presets carry a description line
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise LthError(f"config: [{key}] must be a table; write it as [{key}] with keys below")
            for sub, subvalue in value.items():
                exp = set_value(exp, f"{key}.{sub}", subvalue)
        elif key in TOP_LEVEL:
            exp = set_value(exp, key, value)
        else:
            raise LthError(
                f"config: unknown key {key!r}; top-level keys are "
                f"{', '.join(list(SECTIONS) + list(TOP_LEVEL))}"
            )
    return exp


def set_value(exp: Experiment, dotted: str, value: Any) -> Experiment:
    """Return `exp` with the dotted key set to `value` (str values are parsed)."""
    parts = dotted.split(".")
    if len(parts) == 1 and parts[0] in TOP_LEVEL:
        typ = TOP_LEVEL[parts[0]]
        return replace(exp, **{parts[0]: _coerce(dotted, value, typ)})
    if len(parts) != 2 or parts[0] not in SECTIONS:
        raise LthError(f"unknown setting {dotted!r}; use one of: {', '.join(all_keys())}")
    section, name = parts
    cls = SECTIONS[section]
    hints = get_type_hints(cls)
    if name not in hints:
        raise LthError(f"unknown setting {dotted!r}; use one of: {', '.join(all_keys())}")
    new_section = replace(getattr(exp, section), **{name: _coerce(dotted, value, hints[name])})
    return replace(exp, **{section: new_section})


def all_keys() -> list[str]:
    keys = [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]
    return keys + ["seed"]


def resolve(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Experiment:
    """Preset, then TOML file, then `key=value` overrides; validated."""
    exp = Experiment()
    if preset:
        exp = from_dict(_read_preset(preset), exp)
        exp = replace(exp, preset=preset)
    if config_file:
        try:
            exp = from_dict(load_toml(config_file), exp)
        except LthError as e:  # a bad key or value: say which file holds it
            message = str(e)
            if str(config_file) not in message:
                message = f"config file {config_file}: {message}"
            raise LthError(message) from None
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise LthError(f"--set {item!r} is not key=value; write e.g. --set prune.rate=0.2")
        exp = set_value(exp, key.strip(), value.strip())
    return validate(exp)

