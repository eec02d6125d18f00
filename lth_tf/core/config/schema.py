"""The settings of an experiment: one frozen dataclass per TOML section, and the
names each field accepts.

No TensorFlow here (see lth_tf/core/config/__init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lth_tf.core.controls import CONTROLS
from lth_tf.core.criteria import CRITERIA

# Names the registries accept. The model and data registries live in keras_side, above
# the core, so their names are kept here as plain strings (tests check that they agree);
# the pruning criteria and controls are core registries whose names are read from them.
DATASETS = ("cifar10", "cora", "citeseer", "pubmed", "synthetic_images", "synthetic_graph")
MODELS = ("resnet18", "gcn", "lenet300", "conv4", "tiny_cnn")
GRAPH_DATASETS = ("cora", "citeseer", "pubmed", "synthetic_graph")
GRAPH_MODELS = ("gcn",)
SCOPES = ("global", "layerwise")
STRUCTURES = tuple(CRITERIA)  # prune.structure: the pruning criterion (lth_tf/core/criteria/)
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "step")
CONTROL_KINDS = tuple(CONTROLS)  # lth_tf/core/controls/
PRECISIONS = ("float32", "mixed_bfloat16")  # Keras mixed precision policy names
# train.precision and train.jit_compile: "auto" lets lth-tf choose per CPU when the run starts
# (lth_tf/platform/speed.py: the rule table, the `lth-tf tune` cache); the run records what
# it chose and a resume keeps it.
AUTO = "auto"


@dataclass(frozen=True)
class Data:
    """Which data set, and how much of it."""

    name: str = "cora"  # a registry name, or folder:PATH (one subfolder per class)
    image_size: int = 32  # folder: images are resized to image_size x image_size
    val_size: int = 5000  # image sets: training images held out for validation
    train_subset: int = 0  # image sets: use only the first N training images (0 = all)
    augment: bool = True  # image sets: pad-4 random crop + horizontal flip


@dataclass(frozen=True)
class Model:
    """Which architecture. Fields a model does not use are ignored by it."""

    name: str = "gcn"  # a registry name, file:PATH (.keras/.h5) or py:module:function
    reinit: bool = False  # file: models: re-initialise from the seed instead of the stored weights
    width: int = 64  # resnet18: channels of the first stage; conv4/tiny_cnn: first conv
    hidden: int = 16  # gcn: hidden units
    dropout: float = 0.5  # gcn: dropout on inputs and hidden layer
    l2: float = 5e-4  # gcn: L2 on the first layer's kernel; resnet18: on all kernels


@dataclass(frozen=True)
class Train:
    """How one round trains."""

    epochs: int = 200  # epochs of every round (the dense round 0, each pruned round, each control)
    batch_size: int = 128  # image sets: examples per step (graphs train full-batch)
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 0.01  # the rate train.schedule starts from
    momentum: float = 0.9  # sgd only
    schedule: str = "constant"  # constant | cosine | step (x0.1 at 50% and 75%)
    select_best: bool = True  # keep the weights of the best validation epoch
    patience: int = 0  # stop after this many epochs without val improvement (0 = never)
    finetune_lr: float = 0.0  # rewind=finetune: constant rate (0 = learning_rate / 10)
    deterministic: bool = False  # TF op determinism (slower, bit-reproducible)
    # Speed settings: "auto" is chosen for this CPU when the run starts (rules, or what
    # `lth-tf tune` measured; the guide's multi-device page); a value you give always wins
    jit_compile: bool | str = AUTO  # auto | true | false: XLA-compile the train and test steps
    precision: str = AUTO  # auto | float32 | mixed_bfloat16 (variables and masks stay float32)
    # default | mirrored (local GPUs) | mirrored:N (N logical CPU devices) | multi_worker
    # (TF_CONFIG); batch_size stays the global batch (the guide's multi-device page)
    strategy: str = "default"


@dataclass(frozen=True)
class Prune:
    """How the lottery search prunes and rewinds."""

    rounds: int = 20  # pruning rounds after the dense round 0 (--rounds)
    rate: float = 0.2  # fraction of the remaining weights pruned per round
    scope: str = "global"  # global | layerwise
    rewind: str = "init"  # init | step:K | lr | finetune (lth_tf/core/rewind/)
    layer_rates: dict[str, float] = field(default_factory=dict)  # per-layer rate overrides
    exclude: tuple[str, ...] = ()  # layer names never pruned
    one_shot: bool = False  # one round straight to 1-(1-rate)**rounds sparsity
    controls: tuple[str, ...] = ()  # random_reinit, random_mask (lth_tf/core/controls/)
    control_rounds: str = "last"  # last | all | comma-separated round numbers
    # The winner rule (docs/concepts.md): a pruned round matches when its val_acc >= dense
    # val_acc - tolerance (0.01: within 1 point); the ticket is the sparsest matching round.
    tolerance: float = 0.0
    # The pruning criterion (lth_tf/core/criteria/): weights (magnitude) | channels (whole
    # filters/units by L1 norm; rate then counts channels) | random (random positions,
    # magnitude's counts: the random-pruning baseline) | refill (IMP-Refill: magnitude's
    # mask, then whole channels by the L1 norm it kept; rate counts channels as channels)
    structure: str = "weights"
    # Early-bird rounds: a round stops once the mask its pruning step would take has
    # moved less than eb_distance (normalised Hamming) for eb_window epochs running.
    # The dense round 0 and the last round (the ticket) always train in full.
    early_bird: bool = False
    eb_distance: float = 0.1  # early_bird: how little the mask may move to count as stable
    eb_window: int = 5  # early_bird: for how many epochs in a row
    # Per-round rates: constant (prune.rate every round) | cubic:S (reach sparsity S in
    # prune.rounds rounds, large steps first) | one rate per round, e.g. "0.6,0.5,0.4".
    rate_schedule: str = "constant"


@dataclass(frozen=True)
class Distill:
    """Knowledge distillation from the dense (round 0) network."""

    enabled: bool = False  # train pruned rounds as students of the dense round's network
    alpha: float = 0.5  # weight of the soft (KL) term; 1-alpha on the hard labels
    temperature: float = 2.0  # softens both networks' outputs; the KL term is scaled by T**2
    from_round: int = 1  # the first pruned round that distils (earlier ones train on labels)
    all_nodes: bool = False  # graphs: soft loss on every node, not only training nodes



# What train.precision and train.jit_compile meant before "auto" was their default. A
# config.toml written then spells these values out while its hash omitted them (they were
# the defaults); `Experiment.from_before_auto` reads such a file (storage/rundir.py).
PRE_AUTO_DEFAULTS = {"train.precision": "float32", "train.jit_compile": False}

SECTIONS = {"data": Data, "model": Model, "train": Train, "prune": Prune, "distill": Distill}
TOP_LEVEL = {"seed": int, "preset": str}

# Seeds numpy's legacy seeding takes (np.random.seed, which keras.utils.set_random_seed
# calls; TensorFlow takes any int64). Seeds derived from it (per round, per control) are
# taken modulo SEED_MAX + 1, so every seed in range runs.
SEED_MAX = 2**32 - 1
# Upper bounds of whole-number settings, checked before anything is written: beyond them a
# run would not finish (epochs, rounds) or not fit in memory (image size, width, batch).
LIMITS = {
    "train.epochs": 100_000,
    "train.batch_size": 1_000_000,
    "train.patience": 100_000,
    "prune.rounds": 1_000,
    "prune.eb_window": 100_000,
    "distill.from_round": 1_000,
    "data.image_size": 1_024,
    "data.val_size": 100_000_000,
    "data.train_subset": 100_000_000,
    "model.width": 4_096,
    "model.hidden": 65_536,
}
