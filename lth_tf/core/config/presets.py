"""The shipped presets (lth_tf/presets/*.toml): names, descriptions, contents."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any

from lth_tf.core.config.schema import Data, Model
from lth_tf.core.errors import LthError


def preset_names() -> list[str]:
    return sorted(
        p.name[: -len(".toml")]
        for p in resources.files("lth_tf.presets").iterdir()
        if p.name.endswith(".toml")
    )


@functools.cache
def _preset_subject(name: str) -> tuple[str, str]:
    """(model name, data name) a preset trains."""
    raw = _read_preset(name)
    return (
        raw.get("model", {}).get("name", Model().name),
        raw.get("data", {}).get("name", Data().name),
    )


def preset_description(name: str) -> str:
    return _read_preset(name).get("description", "")


def _read_preset(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise LthError(f"No such preset: {name!r}; run `lth-tf presets` to list them")
    text = resources.files("lth_tf.presets").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)

