"""The public Python API: find a winning ticket in your own Keras model.

    import keras, lth_tf

    search = lth_tf.TicketSearch(model, rounds=5, epochs=10, controls=["random_reinit"])
    summary = search.fit((x_train, y_train), validation_data=(x_val, y_val),
                         test_data=(x_test, y_test))
    ticket = search.ticket_model()            # the winner, a plain Keras model
    search.export("my_ticket")                # SavedModel for plain TensorFlow
    search.export("my_ticket_keras", format="keras")   # my_ticket_keras/model.keras

`model` is a functional or Sequential Keras model (Keras 3, `import keras`, or
tf_keras; compiled or not) whose current weights are the initialisation theta0, or
a factory `seed -> model`. A Keras 3 model is translated to tf_keras (tfmot prunes
only that; lth_tf.keras_side.keras3) and its ticket comes back as Keras 3.
Every other setting of `lth-tf run` is a keyword (the short names below) or a
dotted key in `settings`. The run directory has the CLI's layout, so
`lth-tf report`, `lth-tf export` and `lth-tui --attach` work on it; running
the same search again resumes it.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np

from lth_tf.core import config as C
from lth_tf.core import criteria, paths, sources
from lth_tf.core.errors import LthError
from lth_tf.export import keras3_ticket
from lth_tf.export.ticket import TicketExporter, export_round
from lth_tf.keras_side import models
from lth_tf.keras_side import pruning as P
from lth_tf.keras_side.data.user import as_data, check_labels
from lth_tf.keras_side.keras3 import back, detect
from lth_tf.keras_side.models.user import Built
from lth_tf.platform.backend import keras
from lth_tf.platform.platform import Platform
from lth_tf.search import dense_from, preflight, run_settings
from lth_tf.search.dense_from import DenseSource
from lth_tf.search.engine import RoundResult
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir
from lth_tf.storage.store import RunStore

# Keyword -> config key. Anything else goes through `settings={"key": value}`.
SHORT_NAMES = {
    "rounds": "prune.rounds",
    "rate": "prune.rate",
    "scope": "prune.scope",
    "rewind": "prune.rewind",
    "controls": "prune.controls",
    "one_shot": "prune.one_shot",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "optimizer": "train.optimizer",
    "learning_rate": "train.learning_rate",
    "distill": "distill.enabled",
    "seed": "seed",
}


class RunHooks(TypedDict, total=False):
    """The keywords `fit` and `rounds` share, passed on to `LotterySearch` (default None)."""

    sink: Callable[[dict], None] | None  # receives every event (dicts)
    stop: threading.Event | None  # when set, training stops; the run stays resumable
    callbacks_factory: Callable[[int, str], list] | None  # (round, kind) -> Keras callbacks


def _check_hooks(method: str, hooks: dict[str, Any]) -> None:
    """The TypeError Python raises for an unknown keyword of `TicketSearch.<method>`."""
    for name in hooks:
        if name not in RunHooks.__annotations__:
            raise TypeError(f"TicketSearch.{method}() got an unexpected keyword argument {name!r}")


def _check_directory(directory: Path) -> None:
    """LthError for a `directory=` that is not a folder and cannot become one (a file, a
    FIFO, a broken link); was an OSError ("Not a directory", "File exists") from mkdir."""
    for p in (directory, *directory.parents):
        kind = paths.what_is(p)
        if kind == "missing":
            continue
        if kind != "a folder":
            raise LthError(
                f"directory={str(directory)!r}: {p} is {kind}, not a folder; "
                "give a folder for the run directories (or a path that does not exist yet)"
            )
        return


def _output_width(model: Any) -> int | None:
    """The logits of a built one-output model, Keras 3 or tf_keras (None for a factory or
    anything else): the labels are checked against it before the model's shape is."""
    if detect.kind(model) not in ("keras3", "keras3_subclassed", "tf_keras"):
        return None
    try:
        outs = model.outputs
    except (AttributeError, ValueError):  # an unbuilt subclassed model
        return None
    if not outs or len(outs) != 1:
        return None
    shape = tuple(outs[0].shape)
    return int(shape[-1]) if len(shape) == 2 and shape[-1] else None


class TicketSearch:
    """Iterative magnitude pruning with rewinding on a user's Keras model."""

    def __init__(
        self,
        model: Any,
        *,
        directory: str | Path = "checkpoints",
        name: str | None = None,
        settings: dict[str, Any] | None = None,
        dense_from: str | Path | None = None,
        **short: Any,
    ):
        """Args:
        model: a Keras model, Keras 3 or tf_keras (its weights are theta0), or a factory
            `seed -> model`; told apart by type, never by calling a model.
        directory: where run directories go (like `lth-tf run --out`).
        name: label of the run directory (default: the model's name).
        settings: dotted config keys, e.g. {"distill.enabled": True}.
        dense_from: the run directory of another TicketSearch on the same model and
            data whose round 0 (the dense network) this one copies instead of training
            (`lth-tf run --dense-from`); only prune/distill settings of later rounds may differ.
        **short: rounds, rate, scope, rewind, controls, one_shot, epochs, batch_size,
            optimizer, learning_rate, distill, seed.
        """
        unknown = sorted(set(short) - set(SHORT_NAMES))
        if unknown:
            raise LthError(f"unknown keyword {unknown[0]!r}; use {', '.join(SHORT_NAMES)} or settings={{...}}")
        is_model = detect.kind(model) in ("keras3", "tf_keras")
        self._model = model
        named = is_model or detect.kind(model) == "keras3_subclassed"
        self._label = f"model '{model.name}'" if named else f"factory {getattr(model, '__qualname__', model)}"
        # from_keras copies a model's weights when called (a Keras 3 model is translated
        # then): theta0 is the weights now.
        self._source = models.from_keras(model, label=self._label)
        self._reinit_source = models.reinitialising(self._source)
        exp = _compiled_settings(model) if is_model else C.Experiment()
        for key, value in {**{SHORT_NAMES[k]: v for k, v in short.items()}, **(settings or {})}.items():
            exp = C.set_value(exp, key, _as_setting(value))
        self.exp = C.validate(exp)  # bad settings fail here, before any data or model is touched
        self.directory = Path(directory)
        _check_directory(self.directory)  # before the model is read or anything is written
        self.name = name
        self.dense_from = dense_from
        self.search: LotterySearch | None = None
        self.platform: Platform | None = None  # made from the settings by the first fit/rounds, then reused

    # -- running -------------------------------------------------------------------------
    def fit(
        self,
        train: Any,
        validation_data: Any = None,
        test_data: Any = None,
        *,
        export: bool = True,
        timing: bool = True,
        **hooks: Unpack[RunHooks],
    ) -> dict[str, Any]:
        """Run (or resume) every round, the controls and the ticket; returns summary.json's dict.

        `export=False`: the ticket is not written to RUN_DIR/ticket/; `timing=False`: it is
        written without measuring its latency (as `export(..., timing=False)`).

        `hooks` (see `RunHooks`): `sink` receives every event (dicts), `stop` ends
        training cooperatively (the run stays resumable), `callbacks_factory(round,
        kind)` adds Keras callbacks.
        """
        _check_hooks("fit", hooks)
        for _ in self.rounds(train, validation_data, test_data, **hooks):
            pass
        return self.search.finish(TicketExporter(timing=timing), export=export)

    def rounds(
        self,
        train: Any,
        validation_data: Any = None,
        test_data: Any = None,
        **hooks: Unpack[RunHooks],
    ) -> Iterator[RoundResult]:
        """The rounds one at a time (round 0 is the dense model); `fit` runs them all."""
        _check_hooks("rounds", hooks)  # at the call, as for a named keyword
        return self._rounds(train, validation_data, test_data, hooks)

    def _rounds(
        self, train: Any, validation_data: Any, test_data: Any, hooks: RunHooks
    ) -> Iterator[RoundResult]:
        data = as_data(train, validation_data, test_data)
        self.search = self._open(data, **hooks)
        yield from self.search.rounds()

    def _open(self, data: Any, **hooks: Any) -> LotterySearch:
        if data.num_classes is None:  # tf.data input: the model says
            data.num_classes = self._model_classes(data)
        outputs = _output_width(self._model)
        if outputs:
            check_labels(data, outputs, self._label)  # the labels, named first
        io = (tuple(data.input_shape), int(data.num_classes))
        built = self._source(*io, self.exp.seed)
        user_model = built.model
        # Layer names in exclude/layer_rates, emptied layers: refused before anything is written.
        preflight.check_layers(self.exp, preflight.prunable_layer_sizes(user_model))
        if criteria.get(self.exp.prune.structure).channels:
            preflight.check_channels(self.exp, user_model)
        label = C.safe_label(self.name or user_model.name)
        run_dir = self.directory / f"{label}-{_run_digest(self.exp, built, data)}"
        dense = self._dense_source(run_dir, built, data)  # refused before anything is written
        # theta0, so the CLI can rebuild the model; saved once: .keras files carry a save
        # date, and the run's hash covers the bytes. A Keras 3 model is saved as the user's
        # Keras 3 model (the CLI translates it again, as any file: model Keras 3 saved).
        model_path = RunStore(run_dir).save_model(lambda path: _theta0(built).save(path))
        model_cfg = replace(self.exp.model, name=f"{sources.FILE}{model_path.resolve()}", reinit=False)
        data_cfg = replace(self.exp.data, name=sources.PYTHON)
        exp = replace(self.exp, model=model_cfg, data=data_cfg, preset=None)
        chosen = run_settings.for_run(exp, run_dir)  # what a resumed run started with, else chosen now
        self.platform = self.platform or Platform.from_settings(self.exp.train, chosen=chosen)  # once: TF fixes the strategy
        return LotterySearch(
            exp,
            run_dir=run_dir,
            data=data,
            model_source=self._source,
            reinit_source=self._reinit_source,
            dense_from=dense,
            platform=self.platform.with_chosen(chosen),
            **hooks,
        )

    def _dense_source(self, run_dir: Path, built: Built, data: Any) -> DenseSource | None:
        """The checked `dense_from` run, None without one or once this run has its round 0.

        Its config names its own model file and data "python", so those names are put
        back before comparing; that it was made from this model and data is the digest
        its directory name carries (`_run_digest` over its settings).
        """
        if self.dense_from is None or 0 in rundir.completed_rounds(run_dir):
            return None

        def seen_as(src: C.Experiment) -> C.Experiment:
            if src.data.name != sources.PYTHON:
                raise LthError(f"dense_from: {self.dense_from} is not a TicketSearch run; give one made from Python")
            model = replace(src.model, name=self.exp.model.name, reinit=self.exp.model.reinit)
            return replace(src, model=model, data=replace(src.data, name=self.exp.data.name), preset=self.exp.preset)

        source = dense_from.check(self.exp, self.dense_from, seen_as, flag="dense_from")
        if not source.run_dir.name.endswith("-" + _run_digest(seen_as(rundir.read_experiment(source.run_dir)), built, data)):
            raise LthError(
                f"dense_from: {source.run_dir} was made from another model or data (or renamed); "
                "give the run of a TicketSearch on this model and data"
            )
        return source

    def _model_classes(self, data: Any) -> int:
        """The class count for data without array labels: the model's output width."""
        model = self._model if detect.kind(self._model) != "factory" else self._model(self.exp.seed)
        if detect.kind(model) == "tf_keras" and isinstance(model, keras.Sequential) and not model.built:
            model.build((None, *data.input_shape))
        if detect.kind(model) not in ("keras3", "tf_keras") or not model.built or not model.outputs:
            raise LthError(f"{self._label}: give numpy labels or a built model, so the class count is known")
        return int(model.outputs[0].shape[-1])

    # -- results ---------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self._opened().run_dir

    def summary(self) -> dict[str, Any]:
        return self._opened().store.read_summary() or {}

    def ticket_model(self, round: int | None = None) -> Any:
        """A round's ticket (default: the winner) as a plain Keras model, pruned weights exactly 0.

        In the user's Keras: for a Keras 3 model, a Keras 3 model of its architecture
        (layers, names and head: a softmax head returns probabilities, softmax of the
        logits lth_tf trained); for a tf_keras model, a tf_keras model that outputs
        logits (a softmax head was made linear for training; `run_started.model_notes`
        says so).
        """
        search = self._opened()
        if round is None:
            ticket = self.summary().get("ticket") or {}
            if "round" not in ticket:
                raise LthError("no round matched the dense model's accuracy; pass round=R")
            round = ticket["round"]
        wrapped = search.model_for_round(round)
        return keras3_ticket.as_keras3(search, wrapped) or P.strip(wrapped)

    def export(self, path: str | Path, round: int | None = None, format: str | None = None,
               force: bool = False, timing: bool = True) -> Path:
        """A round's ticket (default: the winner) written to `path`, which loads without lth_tf.

        format: a name of lth_tf/export/formats/: "dense" (a Keras SavedModel), "sparse"
        (pruned kernels stored without their zeros; `tf.saved_model.load` only), "tflite"
        (a .tflite file, image models), "narrow" (channels no layer reads removed) or
        "keras" (Keras 3 models: `path/model.keras`, for `keras.saving.load_model`);
        None: narrow for a channel-pruned run (prune.structure "channels" or "refill"),
        else dense. `force`: replace an export of another run at `path` (refused otherwise).
        The export's marker (`path/lth-tf-export.json`) records its params, MACs and latency
        measured here with the CPU; `timing=False` skips the measurement (a few seconds).
        """
        return export_round(self._opened(), round, path, format=format, force=force, timing=timing)

    def _opened(self) -> LotterySearch:
        if self.search is None:
            raise LthError("call fit(...) first")
        return self.search


def _as_setting(value: Any) -> Any:
    """Python values as config values (`controls=["random_reinit"]` -> a tuple)."""
    return tuple(value) if isinstance(value, list) else value


def _compiled_settings(model: keras.Model) -> C.Experiment:
    """Defaults taken from a compiled model's optimizer (Adam or SGD, constant rate)."""
    exp = C.Experiment()
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return exp
    kind = type(opt).__name__.lower()
    if kind not in C.OPTIMIZERS:
        return exp
    cfg = opt.get_config()
    exp = C.set_value(exp, "train.optimizer", kind)
    if isinstance(cfg.get("learning_rate"), numbers.Real):  # a schedule is left to the config
        exp = C.set_value(exp, "train.learning_rate", _f32(cfg["learning_rate"]))
    if kind == "sgd":
        exp = C.set_value(exp, "train.momentum", _f32(cfg.get("momentum", 0.0)))
    return exp


def _f32(value: numbers.Real) -> float:
    """A float32 hyperparameter as the decimal the user typed (0.05, not 0.0500000007)."""
    return float(str(np.float32(value)))


def _run_digest(exp: C.Experiment, built: Built, data: Any) -> str:
    """What names a Python-API run: its settings, the model (architecture, theta0) and the data."""
    digest = hashlib.sha256()
    digest.update(exp.canonical().encode())
    digest.update(_model_digest(built).encode())
    digest.update((data.digest() if hasattr(data, "digest") else getattr(data, "name", "")).encode())
    return digest.hexdigest()[:10]


def _model_digest(built: Built) -> str:
    """The architecture (the user's: Keras 3's config for a Keras 3 model, so a new rule of
    the translation renames no run) and theta0 (the weights of the model lth_tf trains)."""
    if built.keras3 is not None:
        architecture = json.dumps(built.keras3.get_config(), sort_keys=True, default=repr)
    else:
        architecture = built.model.to_json()
    h = hashlib.sha256(architecture.encode())
    for w in built.model.get_weights():
        h.update(w.tobytes())
    return h.hexdigest()


def _theta0(built: Built) -> Any:
    """The model to save as the run's model.keras: the user's Keras 3 model holding theta0, or
    the tf_keras model itself."""
    return built.model if built.keras3 is None else back.to_keras3(built.model, like=built.keras3)
