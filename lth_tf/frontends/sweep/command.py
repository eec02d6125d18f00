"""`lth-tf sweep`: a grid of settings times seeds, each cell an ordinary run.

    lth-tf sweep --preset cora-gcn --seeds 0-4 --grid prune.rewind=init,lr \
                 --grid distill.enabled=false,true --out sweeps/cora [--jobs 2 | --ray local|auto|HOST:PORT]

Every cell's config is resolved (and so checked) before anything is written or
started. Rerunning the same command skips finished cells and resumes partial
ones. Prints the sweep directory on stdout; progress goes to stderr. Exit 0
when every cell finished, 1 when a cell failed (the others still ran).
No TensorFlow in this process: the cells load it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import options
from lth_tf.frontends.sweep import grid as G
from lth_tf.frontends.sweep import index as I
from lth_tf.frontends.sweep import runner
from lth_tf.platform.placement import Placement
from lth_tf.search import dense_from

EXIT_CELL_FAILED = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of settings x seeds, one run per cell; prints the sweep dir",
        description="Run a grid of settings x seeds, one `lth-tf run` per cell. The experiment "
        "options are those of `lth-tf run`, the same in every cell; --seed S is --seeds S.",
    )
    options.add_experiment_options(p)
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="one axis of the grid (repeatable; axes multiply)")
    p.add_argument("--seeds", default=None, help="e.g. 0-4 or 0,3,7 (default 0)")
    p.add_argument("--out", required=True, help="the sweep directory (new, empty, or this sweep's)")
    p.add_argument("--jobs", type=int, default=1, help="cells at a time (local pool; Ray local CPUs)")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run cells as Ray tasks: 'local' (start Ray here), 'auto' or HOST:PORT")
    p.add_argument("--cpus-per-cell", type=float, default=1.0, help="Ray CPUs reserved per cell")
    p.add_argument("--export", action="store_true", help="export each cell's ticket (default: no)")
    options.add_no_timing_option(p, "each exported ticket's (with --export)")
    options.add_data_dir_option(p)
    p.add_argument("--dense-from", default=None, metavar="RUN_DIR",
                   help="every cell takes round 0 from this run (as `lth-tf run --dense-from`); "
                        "each cell is checked against it first")


def plan(args: argparse.Namespace) -> tuple[dict, list, list[int], list[I.PlannedCell]]:
    """The base, grid, seeds and every cell's run name; LthError on any bad value."""
    options.require_experiment(args)
    if args.jobs < 1:
        raise LthError(f"--jobs {args.jobs} must be at least 1")
    check_cpus(args)
    if args.ray not in (None, "local"):
        runner.check_reachable(args.ray)  # before the sweep folder is written
    options.check_data_dir(args.data_dir)
    axes = G.parse_grid(args.grid)
    seeds = G.parse_seeds(_seeds(args))
    base_overrides = options.overrides(args, seed=False)  # the seed is each cell's own
    planned = []
    for cell in G.plan_cells(axes, seeds):
        overrides = (*base_overrides, *cell.setting, f"seed={cell.seed}")
        try:
            exp = C.resolve(args.preset, args.config, list(overrides))
        except LthError as e:
            raise LthError(f"cell {cell.label} seed {cell.seed}: {e}") from None
        if exp.train.strategy == "multi_worker":  # every cell would join the same TF_CONFIG cluster
            raise LthError("a sweep runs each cell as one process, and train.strategy=multi_worker needs one "
                           "process per machine; run it with lth-tf run on each machine (the guide's multi-device page)")
        if args.ray in (None, "local"):  # on a Ray cluster the cells run on other machines' cores
            Placement.from_settings(exp.train)  # mirrored:N within this machine's cores, as `run` checks
        if args.dense_from:  # a cell whose round 0 differs from the source's is refused now
            try:
                dense_from.check(exp, args.dense_from)
            except LthError as e:
                raise LthError(f"cell {cell.label} seed {cell.seed}: {e}") from None
        planned.append(I.PlannedCell(cell, exp.run_name(), overrides))
    names = [p.run_name for p in planned]
    if len(set(names)) != len(names):
        raise LthError("two cells resolve to the same experiment (a grid value equal to the "
                       "preset's); drop the duplicate value from --grid")
    base = {"preset": args.preset, "config": args.config, "overrides": base_overrides,
            "data_dir": args.data_dir}
    return base, axes, seeds, planned


def check_cpus(args: argparse.Namespace) -> None:
    """--cpus-per-cell: a positive number a Ray node can give (with --ray local, at most --jobs
    CPUs exist: a cell asking for more would wait for ever)."""
    cpus = args.cpus_per_cell
    if not math.isfinite(cpus) or cpus <= 0:
        raise LthError(f"--cpus-per-cell {cpus:g} must be a positive number of CPUs; use e.g. 1 or 0.5")
    if args.ray == "local" and cpus > max(1, args.jobs):
        raise LthError(
            f"--cpus-per-cell {cpus:g} is more than --ray local starts ({max(1, args.jobs)} CPUs, one per "
            f"--jobs), so no cell could start; use --jobs {math.ceil(cpus)} or a smaller --cpus-per-cell"
        )


def _seeds(args: argparse.Namespace) -> str:
    """The --seeds text; --seed S (the option `run` and `lth-tui` take) is the one seed S."""
    if args.seed is None:
        return "0" if args.seeds is None else args.seeds
    if args.seeds is not None:
        raise LthError(f"give --seed {args.seed} or --seeds {args.seeds}, not both")
    return str(args.seed)


def cmd_sweep(args: argparse.Namespace) -> int:
    base, axes, seeds, planned = plan(args)
    sweep_dir = Path(args.out)
    index = I.claim(sweep_dir, I.new_index(base, axes, seeds, planned))
    statuses = {s.name: s for s in I.statuses(sweep_dir)}
    todo, skipped = [], []
    for entry in index["cells"]:
        state = statuses[entry["name"]].state
        if state in (I.DONE, I.RUNNING):
            skipped.append((entry["name"], state))
            continue
        command = runner.cell_command(index["base"], entry, sweep_dir, args.export, args.dense_from,
                                      timing=not args.no_timing)
        todo.append(runner.CellJob(entry["name"], command))
    n = len(index["cells"])
    _say(f"sweep {sweep_dir}: {n} cells, {len(todo)} to run"
         + (f", {len(skipped)} skipped ({_count(skipped)})" if skipped else ""))
    done_count = [0]

    def on_done(result: runner.CellResult) -> None:
        done_count[0] += 1
        if result.exit_code == 0:
            I.clear_failure(sweep_dir, result.name)
            _say(f"[{done_count[0]}/{len(todo)}] done    {result.name}")
        else:
            I.record_failure(sweep_dir, result.name, result.exit_code, result.error)
            _say(f"[{done_count[0]}/{len(todo)}] FAILED  {result.name}: {result.error}")

    if args.ray:
        results = runner.run_ray(todo, args.ray, args.jobs, args.cpus_per_cell, on_done)
    else:
        results = runner.run_local(todo, args.jobs, on_done)
    failed = [r for r in results if r.exit_code != 0]
    if failed:
        _say(f"{len(failed)} of {n} cells failed; fix the cause and rerun the same command "
             "(finished cells are skipped)")
    print(sweep_dir, flush=True)
    return EXIT_CELL_FAILED if failed else 0


def _count(items: list[tuple[str, str]]) -> str:
    states = [s for _, s in items]
    return ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
