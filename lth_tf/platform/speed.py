"""The speed settings of a run, chosen for the CPU that runs it: the rule table and the choice.

Five settings decide how fast a round trains on a CPU: the precision (float32 or
mixed_bfloat16), XLA (`train.jit_compile`), oneDNN (TF_ENABLE_ONEDNN_OPTS, read
once when TensorFlow loads) and TensorFlow's two thread pools. Which values are
fastest depends on the CPU kind (an AVX2-only EPYC emulates bfloat16 at 0.11x; a
Xeon with AMX and a Zen 5 EPYC with AVX512_BF16 run it faster than float32), so none
is fixed here. Each setting is
taken from the first of:

1. the user: a config value other than "auto" (`train.precision`,
   `train.jit_compile`) or the variable TensorFlow reads (TF_ENABLE_ONEDNN_OPTS,
   TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS);
2. the run: a resumed run keeps what it started with (`recorded`, RUN_DIR/runtime.json);
3. `lth-tf tune`: the winner it measured on this CPU for this workload (`tuned`,
   lth_tf/platform/tune_cache.py);
4. `RULES`: the first row whose condition holds for this CPU's features and the
   workload; each row names the measurement it rests on.

`choose(train, workload, cpu, env, tuned, recorded) -> Settings` is pure (no
TensorFlow, no files): the caller reads the CPU (`Cpu.read`), the run directory and
the cache. Every choice carries its source and reason, which `run_started.runtime`
and runtime.json record.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lth_tf.core import sources
from lth_tf.core.config.schema import AUTO, GRAPH_DATASETS

# CPU flags (as /proc/cpuinfo spells them) that decide the fast paths: oneDNN's
# bfloat16 matmuls need avx512_bf16 or AMX; without them bfloat16 is emulated.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16")
ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"  # read by TensorFlow once, at import (lth_tf/platform/onednn.py)
INTRA_VAR = "TF_NUM_INTRAOP_THREADS"  # read by TensorFlow when it makes its thread pools
INTER_VAR = "TF_NUM_INTEROP_THREADS"
SETTINGS = ("precision", "jit_compile", "onednn", "intra_op_threads", "inter_op_threads")
# In the order they win; "tensorflow": oneDNN as TensorFlow loaded it before lth-tf chose (`in_force`).
SOURCES = ("user", "run", "tune", "rule", "tensorflow")
# Models whose convolutions make mixed_bfloat16 pay on AMX (measured, see RULES).
BF16_MODELS = ("resnet18", "conv4")


@dataclass(frozen=True)
class Cpu:
    """The CPU facts the rules read: model name, which SPEED_FLAGS it has, cores this process may use."""

    model: str = ""
    flags: tuple[str, ...] = ()
    cores: int = 1

    @classmethod
    def read(cls, cpuinfo: str | Path = "/proc/cpuinfo") -> Cpu:
        """This machine's CPU (model and flags empty off Linux)."""
        model, flags = "", set()
        try:
            text = Path(cpuinfo).read_text()
        except OSError:
            text = ""
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return cls(model, tuple(f for f in SPEED_FLAGS if f in flags), cores)

    def has(self, *flags: str) -> bool:
        return all(f in self.flags for f in flags)

    def key(self) -> str:
        """What makes two machines the same kind for the tune cache: model, flags, cores."""
        return f"{self.model} | {' '.join(self.flags)} | {self.cores} cores"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "flags": list(self.flags), "cores": self.cores}


@dataclass(frozen=True)
class Workload:
    """What a run trains, as far as speed goes: the rules read `kind`, `model` and
    `several_workers`; the tune cache keys its winners by all of it (`key`)."""

    kind: str = "image"  # image | graph | unknown
    model: str = ""  # a registry name, or file:/py: with its source's digest
    data: str = ""
    width: int = 0
    hidden: int = 0
    batch_size: int = 0
    distill: bool = False
    several_workers: bool = False  # train.strategy = multi_worker

    @classmethod
    def of(cls, exp: Any) -> Workload:
        """The workload of an `Experiment`."""
        m, d, t = exp.model, exp.data, exp.train
        model = m.name
        if sources.is_user_model(model):
            model = f"{sources.split(model)[0]}{sources.fingerprint(model) or model}"
        prefix = sources.split(d.name)[0]
        data = f"{prefix}{d.image_size}px" if prefix else d.name  # a folder's speed: its image size
        return cls(
            kind="graph" if d.name in GRAPH_DATASETS else "image",
            model=model, data=data, width=m.width, hidden=m.hidden, batch_size=t.batch_size,
            distill=bool(exp.distill.enabled), several_workers=t.strategy.startswith("multi_worker"),
        )

    @property
    def user_file_model(self) -> bool:
        return self.model.startswith(sources.FILE)

    def key(self) -> str:
        return (f"{self.kind} {self.model} w{self.width} h{self.hidden} on {self.data}, batch {self.batch_size}"
                + (", distill" if self.distill else ""))


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: `setting` takes `value` when `when` holds; `evidence` says why."""

    setting: str
    value: Any
    when: str
    evidence: str
    applies: Callable[[Cpu, Workload], bool] = field(repr=False, compare=False)


def _always(cpu: Cpu, w: Workload) -> bool:
    return True


# First matching row per setting wins. Ratios are paired, interleaved measurements on
# shared 2-core machines (benchmarks/speed.py; results named in each row).
RULES: tuple[Rule, ...] = (
    Rule("precision", "float32", "graph data",
         "Spektral's GCNConv does not build under mixed_bfloat16 (the config refuses it)",
         lambda c, w: w.kind == "graph"),
    Rule("precision", "float32", "train.strategy = multi_worker",
         "the workers may be different CPU kinds and must compute alike; set train.precision to choose",
         lambda c, w: w.several_workers),
    Rule("precision", "float32", "a file: model",
         "a saved model keeps the dtype it was saved with", lambda c, w: w.user_file_model),
    Rule("precision", "mixed_bfloat16", "native bfloat16 (AMX-BF16 or AVX512_BF16) and ResNet-18 or Conv-4",
         "Xeon with AMX (2026-12-02, shared machine): ResNet-18 w16 1.60x the float32 images/s (3 paired "
         "reps at load 3-5, speed_amx_resnet_quiet.json), 1.65x per CPU-second at load 9-20 and Conv-4 3.6x "
         "(benchmarks/results/speed_amx.json); dense "
         "CIFAR-10 round 73.6 +- 1.1% against 74.2 +- 1.3% (3 seeds); 4 IMP rounds keep the same number of "
         "weights, test accuracy within 0.8 points (speed_accuracy_amx.json). AMD EPYC (Zen 5) with "
         "AVX512_BF16 and no AMX (2026-12-03, load 2-5, speed_avx512.json): ResNet-18 w16 1.40x (2 paired "
         "reps, 1.39-1.42x; 1.40x per CPU-second), Conv-4 2.15x (2.01x per CPU-second); dense CIFAR-10 round 74.1 +- "
         "0.5% against 74.2 +- 1.3% (3 seeds, speed_accuracy_avx512.json)",
         lambda c, w: (c.has("amx_bf16") or c.has("avx512_bf16")) and w.model in BF16_MODELS),
    Rule("precision", "float32", "otherwise",
         "AVX2-only EPYC: mixed_bfloat16 trained at 0.11x (emulated, benchmarks/results/speed.json); "
         "other models than ResNet-18 and Conv-4: not measured faster (`lth-tf tune` measures them)",
         _always),
    Rule("jit_compile", False, "graph data", "XLA has no sparse matmul kernel", lambda c, w: w.kind == "graph"),
    Rule("jit_compile", False, "every CPU measured",
         "XLA was slower on the three kinds: AVX2 EPYC 0.37-0.60x, Xeon with AMX 0.43x, Zen 5 EPYC 0.44x "
         "per CPU-second (speed.json, speed_amx.json, speed_avx512.json)",
         _always),
    Rule("onednn", False, "graph data",
         "the GCN's sparse ops do not use oneDNN; EPYC: 0.41-1.61x with it (median 0.66x, speed.json)",
         lambda c, w: w.kind == "graph"),
    Rule("onednn", True, "image data",
         "AVX2 EPYC: 1.95x faster with it (speed.json); Zen 5 EPYC: 2.6x per CPU-second on ResNet-18 w16 "
         "(speed_avx512.json); AVX512_VNNI/BF16/AMX CPUs: TensorFlow's own default",
         _always),
    Rule("intra_op_threads", 0, "every CPU",
         "0: TensorFlow's choice, one thread per core this process may use", _always),
    Rule("inter_op_threads", 0, "every CPU",
         "0: TensorFlow's choice, one thread per core this process may use", _always),
)


@dataclass(frozen=True)
class Choice:
    """One setting's value, who decided it (one of SOURCES) and why."""

    value: Any
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "reason": self.reason}


@dataclass(frozen=True)
class Settings:
    """The chosen value of every setting in SETTINGS, and the CPU it was chosen for."""

    precision: Choice
    jit_compile: Choice
    onednn: Choice  # value: True / False
    intra_op_threads: Choice  # 0: TensorFlow's choice
    inter_op_threads: Choice
    cpu: Cpu = field(default_factory=Cpu)

    def value(self, name: str) -> Any:
        return getattr(self, name).value

    def values(self) -> dict[str, Any]:
        return {name: self.value(name) for name in SETTINGS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what runtime.json and `run_started.runtime["chosen"]` hold."""
        return {**{name: getattr(self, name).to_dict() for name in SETTINGS}, "cpu": self.cpu.to_dict()}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Settings:
        """Settings from `to_dict`'s output (KeyError/TypeError/ValueError when it is not that)."""
        choices = {name: Choice(raw[name]["value"], str(raw[name]["source"]), str(raw[name]["reason"]))
                   for name in SETTINGS}
        cpu = raw.get("cpu") or {}
        return cls(**choices, cpu=Cpu(str(cpu.get("model", "")), tuple(cpu.get("flags", ())), int(cpu.get("cores", 1))))


def recorded_choices(raw: Mapping[str, Any]) -> dict[str, Choice]:
    """The choices in a run's record (runtime.json, `Settings.to_dict`; a run from before
    it records only some): ValueError when one is not {"value", "source", "reason"}."""
    out = {}
    for name in SETTINGS:
        if name in raw:
            item = raw[name]
            if not isinstance(item, Mapping) or not {"value", "source", "reason"} <= set(item):
                raise ValueError(f"{name} is not {{value, source, reason}}")
            out[name] = Choice(item["value"], str(item["source"]), str(item["reason"]))
    if "precision" in out and out["precision"].value not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"precision {out['precision'].value!r} is not float32 or mixed_bfloat16")
    return out


def rule_for(setting: str, cpu: Cpu, workload: Workload) -> Rule:
    """The first row of RULES for `setting` whose condition holds."""
    return next(r for r in RULES if r.setting == setting and r.applies(cpu, workload))


def user_values(train: Any, env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the user fixed: config fields other than "auto", and the variables TF reads."""
    out: dict[str, Any] = {}
    if train.precision != AUTO:
        out["precision"] = train.precision
    if train.jit_compile != AUTO:
        out["jit_compile"] = bool(train.jit_compile)
    if env.get(ONEDNN_VAR) is not None:
        out["onednn"] = env[ONEDNN_VAR].strip().lower() in ("1", "true")
    for name, var in (("intra_op_threads", INTRA_VAR), ("inter_op_threads", INTER_VAR)):
        text = env.get(var, "").strip()
        if text.isdigit():
            out[name] = int(text)
    return out


def _user_reason(name: str) -> str:
    return {
        "precision": "train.precision in the config", "jit_compile": "train.jit_compile in the config",
        "onednn": f"{ONEDNN_VAR} in the environment", "intra_op_threads": f"{INTRA_VAR} in the environment",
        "inter_op_threads": f"{INTER_VAR} in the environment",
    }[name]


def choose(
    train: Any,
    workload: Workload,
    cpu: Cpu,
    env: Mapping[str, str],
    tuned: Mapping[str, Any] | None = None,
    recorded: Mapping[str, Choice] | None = None,
) -> Settings:
    """Each setting from the user, else the run's record, else the tune winner, else RULES.

    `train`: the config's Train section; `env`: the environment (os.environ);
    `tuned`: the tune cache's entry for (cpu, workload): {"values": {setting: value},
    "measured": what it says about the measurement} or None; `recorded`: the settings a
    resumed run started with (`recorded_choices`; None for a new run).
    """
    user = user_values(train, env)
    picked = {}
    for name in SETTINGS:
        if name in user:
            picked[name] = Choice(user[name], "user", _user_reason(name))
        elif recorded and name in recorded:
            was = recorded[name]
            why = was.reason if was.source == "run" else f"the run started with it ({was.source}: {was.reason})"
            picked[name] = Choice(was.value, "run", why)
        elif tuned and name in tuned.get("values", {}):
            picked[name] = Choice(tuned["values"][name], "tune", f"lth-tf tune: {tuned.get('measured', '')}")
        else:
            rule = rule_for(name, cpu, workload)
            picked[name] = Choice(rule.value, "rule", f"{rule.when}: {rule.evidence}")
    return Settings(**picked, cpu=cpu)


def in_force(chosen: Settings, onednn_enabled: bool) -> Settings:
    """`chosen` with oneDNN as this process has it: TensorFlow reads its variable once, so
    in a process that loaded TensorFlow before the run chose, TensorFlow's value holds."""
    if bool(chosen.onednn.value) == onednn_enabled:
        return chosen
    why = "TensorFlow was loaded before the run chose, and oneDNN is fixed when it loads"
    return dataclasses.replace(chosen, onednn=Choice(onednn_enabled, "tensorflow", why))


def table(cpu: Cpu | None = None, workload: Workload | None = None) -> list[dict[str, Any]]:
    """The rule table as rows (setting, value, when, evidence), marking the rows that apply
    to `cpu` and `workload` when given (for `lth-tf tune --rules` and the docs)."""
    rows = []
    for r in RULES:
        row = {"setting": r.setting, "value": r.value, "when": r.when, "evidence": r.evidence}
        if cpu is not None and workload is not None:
            row["chosen"] = rule_for(r.setting, cpu, workload) is r
        rows.append(row)
    return rows
