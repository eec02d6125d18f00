"""Reading a config file, and a small TOML writer for our own flat types."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.core.paths import what_is


def load_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        kind = what_is(p)
        if kind == "missing":
            raise LthError(f"config file not found: {p}; give the path of a TOML file")
        raise LthError(f"config file {p} is {kind}, not a file; give the path of a TOML file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:  # a binary file or another encoding: TOML is UTF-8
        raise LthError(
            f"config file {p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset "
            f"{e.start}); give a TOML file saved as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise LthError(f"config file {p} is not valid TOML ({e}); fix the syntax") from None



def dumps_toml(d: dict[str, Any]) -> str:
    lines = []
    for key, value in d.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in d.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            nested = []
            for k, v in value.items():
                if isinstance(v, dict):
                    nested.append((k, v))
                else:
                    lines.append(f"{k} = {_toml_value(v)}")
            for k, v in nested:
                inline = ", ".join(f"{_toml_str(a)} = {_toml_value(b)}" for a, b in v.items())
                lines.append(f"{k} = {{ {inline} }}")
    return "\n".join(lines).lstrip() + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _toml_str(s: str) -> str:
    """A TOML basic string. JSON's escapes are valid TOML, but its ASCII-only
    output writes characters beyond U+FFFF as surrogate pairs, which TOML rejects;
    so write non-ASCII as is and escape DEL, the one control JSON leaves raw."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")
