"""Controls: the trainings a ticket is compared against (`prune.controls`).

A registry as in open_lth: `CONTROLS` maps each name prune.controls accepts to
its `Control` (lth_tf/core/controls/base.py: where its weights come from,
which mask it uses, its seed offset); `get(name)` looks one up. Pure Python:
config validation takes the names from here, the engine interprets the fields.

A new control is one module here plus one line below; one that needs a new
source of weights or masks also adds that case to `RoundEngine.run_control`.
"""

from lth_tf.core.controls import random_mask, random_reinit
from lth_tf.core.controls.base import RANDOM_MASK, REINIT, ROUND_MASK, ROUND_START, Control

CONTROLS: dict[str, Control] = {
    c.name: c
    for c in (
        random_reinit.CONTROL,
        random_mask.CONTROL,
    )
}
NAMES = tuple(CONTROLS)


def get(name: str) -> Control:
    """The control `name`; ValueError for an unknown name."""
    try:
        return CONTROLS[name]
    except KeyError:
        raise ValueError(f"No such control: {name!r}; use one of {', '.join(NAMES)}") from None


__all__ = ["CONTROLS", "NAMES", "RANDOM_MASK", "REINIT", "ROUND_MASK", "ROUND_START", "Control", "get"]
