"""Converting a setting's value (TOML value or --set string) to its field's type."""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from lth_tf.core.errors import LthError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce(key: str, value: Any, typ: Any) -> Any:
    """Convert `value` to `typ`; strings (from --set) are parsed."""
    tname = getattr(typ, "__name__", str(typ))
    bad = LthError(f"setting {key!r}: {value!r} is not a valid {_type_word(typ)}; e.g. {_example(typ)}")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad
    if str(typ) == "bool | str":  # true | false | auto (train.jit_compile)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, str) and value.lower() == "auto":
            return "auto"
        raise LthError(f"setting {key!r}: {value!r} is not true, false or auto; e.g. auto")
    if typ is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, numbers.Integral):  # numpy integers too (a seed taken from an array)
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise bad
    if typ is float:
        if isinstance(value, bool):
            raise bad
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad from None
        if not math.isfinite(number):  # nan/inf would slip past the range checks
            raise bad
        return number
    if typ is str or tname == "str":
        if isinstance(value, str):
            return value
        raise bad
    if str(typ).startswith("str | None") or str(typ) == "typing.Optional[str]":
        return None if value in (None, "") else str(value)
    if str(typ).startswith("tuple"):
        if isinstance(value, str):
            return tuple(x.strip() for x in value.split(",") if x.strip())
        if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
            return tuple(value)
        raise bad
    if str(typ).startswith("dict"):
        if isinstance(value, str):  # "name:rate,name:rate"
            out = {}
            for part in filter(None, (p.strip() for p in value.split(","))):
                name, sep, rate = part.partition(":")
                if not sep:
                    raise bad
                out[name.strip()] = _coerce(key, rate, float)
            return out
        if isinstance(value, dict):
            return {str(k): _coerce(key, v, float) for k, v in value.items()}
        raise bad
    raise bad  # pragma: no cover - every field type is handled above


def _type_word(typ: Any) -> str:
    return {bool: "true/false", int: "whole number", float: "number", str: "string"}.get(
        typ, "list like a,b" if str(typ).startswith("tuple") else "mapping like name:0.1,other:0.2"
    )


def _example(typ: Any) -> str:
    return {bool: "true", int: "3", float: "0.2", str: "text"}.get(
        typ, "a,b" if str(typ).startswith("tuple") else "output:0.1"
    )

