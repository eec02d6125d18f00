"""`lth-tf tune`: measure the candidate speed settings on this machine and keep the fastest.

    lth-tf tune --preset cifar10-resnet18-cpu          # ~1 minute; prints a table, stores the winner
    lth-tf tune --preset cifar10-resnet18-cpu --show   # what a run would use now, and why (no measuring)

The candidates are every combination of the settings the user left to lth-tf
(precision, oneDNN; XLA with --xla): mixed_bfloat16 only for image data on a CPU
with AVX512_BF16 or AMX (elsewhere it is emulated: 0.11x on an AVX2 EPYC; --all
measures it anyway), XLA never for graph data. Each candidate trains in its own
process, in paired, interleaved rounds (tune_rounds.py starts the processes and times
the rounds; tune_budget.py fits them into `--seconds`). Each candidate's speed is compared with the rule's choice
round by round; a candidate wins only when it was faster in every round and by
at least `MARGIN` in the median, so noise keeps the rule's choice. `--seconds` counts
from the command's start, and the command says when start-up left too little of it.

The winner goes to the user's cache ($LTH_CACHE_DIR/tune.json), keyed by this CPU
and the workload; later runs of that workload on this kind of CPU use it unless
the user sets a value (lth_tf/platform/speed.py says the order). Errors a user can
cause are one line and exit 2 (the CLI's `main`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import time
from itertools import product
from typing import Any

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import options
from lth_tf.frontends.cli.tune_rounds import measure
from lth_tf.platform import speed, tune_cache

# A candidate replaces the rule's choice only if faster in every round and by this much in the median.
MARGIN = 1.05
# Past the budget by more than this, the command says so (the tables are printed after the workers end).
OVER_SECONDS = 5.0
TUNED = ("precision", "jit_compile", "onednn")  # the settings tune measures
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # without one of these, bfloat16 is emulated


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="measure the fastest speed settings on this machine for an experiment; "
                       "later runs of it use them")
    options.add_experiment_options(p)
    options.add_data_dir_option(p)
    p.add_argument("--seconds", type=float, default=60.0, help="time budget, start-up included (default 60)")
    p.add_argument("--xla", action="store_true", help="measure train.jit_compile=true too (slower on every CPU "
                   "measured so far)")
    p.add_argument("--all", action="store_true", help="measure mixed_bfloat16 also where the CPU emulates it")
    p.add_argument("--no-store", action="store_true", help="print the table, keep the cache as it is")
    p.add_argument("--show", action="store_true", help="print what a run would use now and why; measure nothing")


# -- the candidates and the winner (pure) ---------------------------------------------------
def candidates(train: Any, workload: speed.Workload, cpu: speed.Cpu, env: dict[str, str],
               xla: bool = False, emulated: bool = False) -> list[dict[str, Any]]:
    """Every combination of the values worth measuring for the settings the user left open.

    The rule's choice comes first. Settings the user fixed take only their value.
    """
    user = speed.user_values(train, env)
    rule = speed.choose(train, workload, cpu, env).values()
    options_: dict[str, list[Any]] = {
        "precision": ["float32"],
        "jit_compile": [False],
        "onednn": [True, False],
    }
    native_bf16 = any(cpu.has(f) for f in BF16_FLAGS)
    if workload.kind != "graph" and not workload.user_file_model and (native_bf16 or emulated):
        options_["precision"].append("mixed_bfloat16")
    if xla and workload.kind != "graph":
        options_["jit_compile"].append(True)
    for name in TUNED:
        if name in user:
            options_[name] = [user[name]]
        elif rule[name] not in options_[name]:
            options_[name].insert(0, rule[name])
    combos = [dict(zip(TUNED, values, strict=True)) for values in product(*(options_[n] for n in TUNED))]
    first = {n: rule[n] for n in TUNED}
    return [first] + [c for c in combos if c != first]


def paired(speeds: list[list[float | None]], base: int = 0) -> list[dict[str, Any]]:
    """Per candidate: median speed and the ratios to candidate `base`, round by round.

    `speeds[c][r]`: candidate c's examples per second in round r (None: failed).
    """
    out = []
    for c, row in enumerate(speeds):
        ratios = [s / b for s, b in zip(row, speeds[base], strict=True) if s and b]
        good = [s for s in row if s]
        out.append({
            "median": statistics.median(good) if good else None,
            "ratio": statistics.median(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
            "rounds": len(ratios),
        })
    return out


def winner(stats: list[dict[str, Any]], base: int = 0, margin: float = MARGIN) -> int:
    """The candidate faster than `base` in every round and by `margin` in the median (the
    fastest such), else `base`."""
    best, best_ratio = base, 1.0
    for c, s in enumerate(stats):
        if c == base or not s["rounds"] or s["rounds"] < stats[base]["rounds"]:
            continue
        if s["ratio_min"] > 1.0 and s["ratio"] >= margin and s["ratio"] > best_ratio:
            best, best_ratio = c, s["ratio"]
    return best


def describe(c: dict[str, Any]) -> str:
    return (f"precision={c['precision']} oneDNN={'on' if c['onednn'] else 'off'} "
            f"XLA={'on' if c['jit_compile'] else 'off'}")


def format_table(cands: list[dict[str, Any]], stats: list[dict[str, Any]], unit: str, best: int,
                 errors: dict[int, str], cores: list[float | None], dropped: dict[int, str] | None = None) -> list[str]:
    names = [describe(cand) + (" (rule)" if c == 0 else "") for c, cand in enumerate(cands)]
    width = max(42, *map(len, names))  # one column for every name, the rule's mark included
    lines = [f"{'candidate':{width + 2}s} {unit + '/s':>10s}  {'vs rule':>7s}  {'range':>11s}  cores"]
    for c, (name, s) in enumerate(zip(names, stats, strict=True)):
        mark = "*" if c == best else " "
        if c in errors:
            lines.append(f"{mark} {name:{width}s} failed: {errors[c]}")
            continue
        if dropped and c in dropped:
            lines.append(f"{mark} {name:{width}s} {dropped[c]}")
            continue
        rng = "" if c == 0 or s["ratio"] is None else f"{s['ratio_min']:.2f}-{s['ratio_max']:.2f}"
        ratio = "1.00" if c == 0 else ("" if s["ratio"] is None else f"{s['ratio']:.2f}x")
        med = "" if s["median"] is None else f"{s['median']:.1f}"
        used = "" if cores[c] is None else f"{cores[c]:.1f}"
        lines.append(f"{mark} {name:{width}s} {med:>10s}  {ratio:>7s}  {rng:>11s}  {used}")
    return lines


# -- the command -------------------------------------------------------------------------------
def cmd_tune(args) -> int:
    start = time.monotonic()  # the budget counts from here
    exp = options.experiment_from_args(args)
    data_dir = options.check_data_dir(args.data_dir) or os.environ.get("LTH_DATA_DIR")
    if not 0 < args.seconds < math.inf:  # nan and inf too (argparse's float takes them)
        raise LthError(f"--seconds {args.seconds} must be a finite positive number of seconds; use e.g. --seconds 60")
    cpu, workload = speed.Cpu.read(), speed.Workload.of(exp)
    print(f"CPU: {cpu.model or 'unknown'} ({' '.join(cpu.flags) or 'no speed flags'}), {cpu.cores} cores")
    print(f"workload: {workload.key()}")
    if args.show:
        return _show(exp, cpu, workload)
    cands = candidates(exp.train, workload, cpu, dict(os.environ), xla=args.xla, emulated=args.all)
    if len(cands) == 1:
        print(f"nothing to measure: {describe(cands[0])} is fixed by your settings")
        return 0
    print(f"measuring {len(cands)} candidates, each in its own process (about {args.seconds:.0f} s)", flush=True)
    result = measure(exp, cands, data_dir, args.seconds, echo=lambda s: print(s, flush=True), start=start)
    errors = result["errors"]
    if 0 in errors:
        raise LthError(f"tune: the rule's choice ({describe(cands[0])}) did not train: {errors[0]}")
    stats = paired(result["speeds"])
    best = winner(stats)
    unit = "nodes" if workload.kind == "graph" else "images"
    dropped = result["dropped"]
    for line in format_table(cands, stats, unit, best, errors, result["cores"], dropped):
        print(line)
    print(f"{result['rounds']} rounds of {result['steps']} steps per candidate, paired with the rule's choice "
          f"in each round; load average {os.getloadavg()[0]:.1f}")
    spent = time.monotonic() - start
    print(f"took {spent:.0f} s of the {args.seconds:.0f} s budget (start-up {result['startup']:.0f} s)"
          + (f": over by {spent - args.seconds:.0f} s" if spent > args.seconds + OVER_SECONDS else ""))
    s = stats[best]
    if best == 0:
        others = [x["ratio"] for c, x in enumerate(stats) if c and x["ratio"] is not None]
        measured = (f"the rule's choice was fastest (next best {max(others):.2f}x)" if others
                    else "the rule's choice (nothing else trained)")
    else:
        measured = (f"{s['ratio']:.2f}x ({s['ratio_min']:.2f}-{s['ratio_max']:.2f}) the speed of the rule's "
                    f"choice ({describe(cands[0])})")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    print(f"winner: {describe(cands[best])}: {measured}")
    if args.no_store:
        return 0
    user = speed.user_values(exp.train, os.environ)
    entry = {
        "values": {n: cands[best][n] for n in TUNED if n not in user},
        "measured": f"{when}, {len(cands)} candidates x {result['rounds']} rounds: {measured}",
        "date": when,
        "table": [{"candidate": c, **x, "cores": result["cores"][i], "error": errors.get(i),
                   **({"dropped": dropped[i]} if i in dropped else {})}
                  for i, (c, x) in enumerate(zip(cands, stats, strict=True))],
    }
    path = tune_cache.store(cpu, workload, entry)
    print(f"stored in {path}: runs of this workload on this CPU use it unless you set a value")
    return 0


def _show(exp: C.Experiment, cpu: speed.Cpu, workload: speed.Workload) -> int:
    """What a new run of `exp` would use now, setting by setting, and the rules."""
    chosen = speed.choose(exp.train, workload, cpu, os.environ, tune_cache.lookup(cpu, workload))
    for name in speed.SETTINGS:
        c = getattr(chosen, name)
        print(f"  {name:17s} {c.value!s:15s} {c.source:5s} {c.reason}")
    print("rules (first match wins; * = applies here):")
    for row in speed.table(cpu, workload):
        print(f"  {'*' if row['chosen'] else ' '} {row['setting']:17s} {row['value']!s:15s} "
              f"{row['when']}: {row['evidence']}")
    return 0
