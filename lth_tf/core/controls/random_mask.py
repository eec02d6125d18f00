"""`random_mask`: round r's starting weights under a random mask of the same counts.

As many kept weights (channels, for channel pruning) per layer as round r's
mask, at random positions: a ticket that beats it shows its mask matters.
"""

from lth_tf.core.controls.base import RANDOM_MASK, ROUND_START, Control

CONTROL = Control(
    name="random_mask",
    help="round r's starting weights, a random mask with its counts per layer",
    weights=ROUND_START,
    mask=RANDOM_MASK,
    seed_offset=104_729,
)
