"""`random_reinit`: round r's mask on a fresh initialisation (Frankle & Carbin's control).

A ticket that beats it shows its initial weights matter, not only its mask.
"""

from lth_tf.core.controls.base import REINIT, ROUND_MASK, Control

CONTROL = Control(
    name="random_reinit",
    help="round r's mask on freshly initialised weights",
    weights=REINIT,
    mask=ROUND_MASK,
    seed_offset=7_919,
)
