"""`lth-tf tune`'s measuring: the candidates' worker processes and the rounds they are timed in.

Each candidate runs in its own process (`tune_worker.py`: oneDNN is fixed when TensorFlow
loads), all started together. Once they are warm, they train in turns: round after round,
every candidate trains the same number of steps, in an order rotated each round, so a
candidate and the rule's choice are timed close together under the same load (paired,
interleaved). How many steps and rounds fit the time budget is tune_budget.py's (pure);
what the speeds mean (paired ratios, the winner, the table) is tune.py's.
"""

from __future__ import annotations

import json
import math
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from lth_tf.core import config as C
from lth_tf.frontends.cli import tune_budget
from lth_tf.platform import speed

READY_TIMEOUT = 600.0  # seconds for a worker to load TensorFlow, the data and the model
QUIT_SECONDS = 10.0  # a worker exits at once on "quit" (nothing to save); past this it is killed


class _Worker:
    """One candidate's process; its stdout lines arrive on a queue."""

    def __init__(self, exp: C.Experiment, cand: dict[str, Any], data_dir: str | None, log_dir: Path, i: int):
        env = {k: v for k, v in os.environ.items() if k != speed.ONEDNN_VAR}
        env[speed.ONEDNN_VAR] = "1" if cand["onednn"] else "0"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[3]),
                                                          env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        spec = {"experiment": exp.to_dict(), "candidate": cand, "data_dir": data_dir}
        self.stderr = open(log_dir / f"worker-{i}.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lth_tf.frontends.cli.tune_worker", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def reply(self, timeout: float) -> dict[str, Any]:
        """The worker's next JSON line ({"error": ...} when it ended or timed out)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                return {"error": f"no answer in {timeout:.0f} s", "timeout": True}
            if line is None:
                return {"error": f"the process ended (exit {self.proc.wait()})"}
            try:
                return json.loads(line)
            except ValueError:
                if time.monotonic() > deadline:
                    return {"error": "no answer"}

    def ask(self, steps: int, timeout: float) -> dict[str, Any]:
        try:
            self.proc.stdin.write(f"{steps}\n")
            self.proc.stdin.flush()
        except OSError:
            return {"error": "the process ended"}
        return self.reply(timeout)

    def quit(self) -> None:
        if self.proc.stdin.closed:
            return
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        self.quit()
        try:
            self.proc.wait(timeout=QUIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def measure(exp: C.Experiment, cands: list[dict[str, Any]], data_dir: str | None, seconds: float,
            echo=print, start: float | None = None) -> dict[str, Any]:
    """Start every candidate, then time them in rotated rounds; the per-round speeds and errors.

    `seconds` counts from `start` (time.monotonic(); default now): the rounds are planned
    into what start-up left of it (tune_budget), MIN_ROUNDS of them even past it, said.
    """
    t0 = time.monotonic() if start is None else start
    deadline = t0 + seconds
    errors: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="lth-tune-") as logs:
        workers = [_Worker(exp, c, data_dir, Path(logs), i) for i, c in enumerate(cands)]
        try:
            ready = _wait_ready(workers, deadline, t0, errors, echo)
            live = sorted(ready)
            startup = time.monotonic() - t0
            echo(f"lth-tf tune: {len(live)} of {len(cands)} candidates ready after {startup:.0f} s"
                 f"{_startup_costs(list(ready.values()))}")
            if 0 not in ready:
                return _no_rounds(errors, len(cands), t0, startup)
            # One step each, now that no worker is still starting: the step times the plan rests on.
            step_seconds = {}
            for i in live:
                got = workers[i].ask(1, timeout=60 + 20 * float(ready[i]["step_seconds"]))
                if "error" in got:
                    errors[i] = got["error"]
                    workers[i].proc.kill()  # a stuck worker would take the measured ones' cores
                else:
                    step_seconds[i] = float(got["seconds"])
            if 0 not in step_seconds:
                return _no_rounds(errors, len(cands), t0, startup)
            live = [i for i in live if i not in errors]
            dropped: dict[int, str] = {}
            rule = [float(ready[0]["step_seconds"]), step_seconds[0]]
            for i in live[1:]:  # live is sorted: the rule's choice (0) first
                mine = [float(ready[i]["step_seconds"]), step_seconds[i]]
                if tune_budget.too_slow(mine, rule):
                    dropped[i] = (f"not measured in rounds: {max(rule) / min(mine):.2f}x the rule's choice's "
                                  f"speed in both timed steps (under 1/{tune_budget.SLOW_FACTOR:g}: cannot win)")
                    workers[i].quit()
            live = [i for i in live if i not in dropped]
            if len(live) < 2:  # nothing left to compare the rule's choice with
                return {**_no_rounds(errors, len(cands), t0, startup), "dropped": dropped}
            the_plan = tune_budget.plan(deadline - time.monotonic(), [step_seconds[i] for i in live])
            steps = the_plan.steps
            if the_plan.fits:
                echo(f"lth-tf tune: measuring {the_plan.rounds} rounds of {steps} steps per candidate "
                     f"(about {the_plan.round_seconds:.0f} s a round)")
            else:
                echo(f"lth-tf tune: start-up took {startup:.0f} s of the {seconds:.0f} s budget, too much for "
                     f"{tune_budget.MIN_ROUNDS} paired rounds; measuring the fewest that can pick a winner "
                     f"({tune_budget.MIN_ROUNDS} rounds of {steps} steps, about {the_plan.seconds:.0f} s "
                     f"beyond it; --seconds {math.ceil(startup + the_plan.seconds + 10)} fits them)")
            speeds: list[list[float | None]] = [[] for _ in cands]
            cpu: list[list[float]] = [[] for _ in cands]
            took: list[float] = []
            r = 0
            while 0 not in errors and tune_budget.another_round(r, deadline - time.monotonic(), took):
                began = time.monotonic()
                order = live[r % len(live):] + live[:r % len(live)]  # rotated: interleaved pairs
                for i in order:
                    if i in errors:
                        speeds[i].append(None)
                        continue
                    got = workers[i].ask(steps, timeout=60 + 20 * steps * step_seconds[i])
                    if "error" in got:
                        errors[i] = got["error"]
                        workers[i].proc.kill()  # as above: it must not train beside the others
                        speeds[i].append(None)
                        continue
                    speeds[i].append(got["examples"] / got["seconds"])
                    cpu[i].append(got["cpu_seconds"] / got["seconds"])
                for i in range(len(cands)):
                    if i not in live:
                        speeds[i].append(None)
                took.append(time.monotonic() - began)
                r += 1
        finally:
            _close_all(workers)
    return {"errors": errors, "speeds": speeds, "rounds": r, "steps": steps,
            "cores": [statistics.median(c) if c else None for c in cpu], "seconds": time.monotonic() - t0,
            "startup": startup, "dropped": dropped}


def _no_rounds(errors: dict[int, str], n: int, t0: float, startup: float) -> dict[str, Any]:
    """`measure`'s result when no round ran (the rule's choice failed, or nothing to compare it with)."""
    return {"errors": errors, "speeds": [[None] for _ in range(n)], "rounds": 0, "steps": 0,
            "cores": [None] * n, "seconds": time.monotonic() - t0, "startup": startup, "dropped": {}}


def _wait_ready(workers: list[_Worker], deadline: float, t0: float, errors: dict[int, str],
                echo) -> dict[int, dict[str, Any]]:
    """Each worker's ready line (by index); a line when start-up outlasts the budget."""
    ready: dict[int, dict[str, Any]] = {}
    warned = False
    ready_by = t0 + READY_TIMEOUT  # one limit for all workers, whatever the budget
    for i, w in enumerate(workers):
        limit = ready_by if warned else min(ready_by, deadline)
        got = w.reply(max(0.1, limit - time.monotonic()))
        if got.get("timeout") and not warned and time.monotonic() < ready_by:
            warned = True
            echo(f"lth-tf tune: start-up has taken the whole {deadline - t0:.0f} s budget (the machine's load "
                 f"average is {os.getloadavg()[0]:.1f}); waiting for the candidates to be ready, up to "
                 f"{READY_TIMEOUT:.0f} s from the start")
            got = w.reply(max(0.1, ready_by - time.monotonic()))
        if "error" in got:
            errors[i] = got["error"]
            w.proc.kill()  # a worker still starting would take the measured ones' cores
        else:
            ready[i] = got
    return ready


def _startup_costs(ready: list[dict[str, Any]]) -> str:
    """Where a worker's start-up went, in CPU seconds (the median worker's), for the ready line."""
    costs: dict[str, list[float]] = {}
    for got in ready:
        before = 0.0
        for phase, (_, cpu_s) in got.get("phases", {}).items():
            costs.setdefault(phase, []).append(cpu_s - before)
            before = cpu_s
    if not costs:
        return ""
    parts = ", ".join(f"{phase} {statistics.median(v):.1f}" for phase, v in costs.items())
    return f" (CPU seconds per candidate: {parts})"


def _close_all(workers: list[_Worker]) -> None:
    """Tell every worker to quit, then wait for all: in parallel, not one after another."""
    for w in workers:
        w.quit()
    for w in workers:
        w.close()
