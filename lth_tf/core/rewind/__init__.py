"""Rewind modes: where a pruned round starts and how it trains (`prune.rewind`).

The one home of the grammar of prune.rewind: `WORD` or `WORD:K` (K a whole
number), WORD a key of `MODES`, ":K" present exactly when the mode
`takes_step`. `parse(text)` gives the mode object (ValueError otherwise);
config validation, the engine, `--dense-from` and the CLI's resume check all
ask it. Pure Python.

    from lth_tf.core import rewind
    mode = rewind.parse("step:500")
    mode.snapshot_step, mode.uses_snapshot, mode.constant_lr(train)   # 500, True, None

A new mode is one module here (a `RewindMode` subclass) plus one line below.
"""

from __future__ import annotations

import re

from lth_tf.core.rewind.base import RewindMode
from lth_tf.core.rewind.finetune import Finetune
from lth_tf.core.rewind.lr import LearningRate
from lth_tf.core.rewind.snapshot import Init, StepK

MODES: dict[str, type[RewindMode]] = {
    m.word: m
    for m in (
        Init,  # init
        StepK,  # step:K
        LearningRate,  # lr
        Finetune,  # finetune
    )
}


def parse(text: str) -> RewindMode:
    """The mode `prune.rewind = text` names; ValueError("unknown rewind mode ...") otherwise."""
    word, colon, arg = text.partition(":")
    mode = MODES.get(word)
    if mode is not None and not mode.takes_step and not colon:
        return mode()
    if mode is not None and mode.takes_step and re.fullmatch(r"\d+", arg):
        return mode(int(arg))
    raise ValueError(f"unknown rewind mode {text!r}")


def usage() -> str:
    """The accepted spellings for messages: "init, step:K (K>=0), lr or finetune"."""
    words = [m.usage for m in MODES.values()]
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


__all__ = ["MODES", "RewindMode", "parse", "usage"]
