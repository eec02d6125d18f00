"""Run a sweep's cells: a local pool of `--jobs` processes, or Ray tasks.

Every cell is an ordinary `lth-tf run` in its own process (TensorFlow reads its
CPU settings once per process, and a crash stays in its cell), so a cell
resumes like any run and a finished one is skipped: rerunning a killed sweep
trains nothing twice. A failing cell is recorded in the index and the others go
on. Cells die with the process that started them (Linux: PR_SET_PDEATHSIG), so
killing `lth-tf sweep` leaves no orphan holding a run's lock. No TensorFlow here.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lth_tf.core.errors import LthError
from lth_tf.frontends.sweep import index as sweep_index

ERROR_TAIL = 400  # characters of a failed cell's stderr kept in the index


@dataclass(frozen=True)
class CellJob:
    name: str
    command: tuple[str, ...]


@dataclass(frozen=True)
class CellResult:
    name: str
    exit_code: int
    error: str  # the last line of stderr when exit_code != 0


def cell_command(base: dict[str, Any], entry: dict[str, Any], sweep_dir: Path, export: bool,
                 dense_from: str | None = None, timing: bool = True) -> tuple[str, ...]:
    """The `lth-tf run` command line of one cell (absolute paths: Ray workers have another cwd).

    `dense_from`: the sweep's --dense-from run, passed on to every cell; `timing=False`: the
    cell's ticket export is not timed (`run --no-timing`).
    """
    cmd = [sys.executable, "-m", "lth_tf.frontends.cli.main", "run", "--quiet",
           "--out", str(sweep_index.runs_dir(sweep_dir).resolve())]
    if base.get("preset"):
        cmd += ["--preset", base["preset"]]
    if base.get("config"):
        cmd += ["--config", str(Path(base["config"]).resolve())]
    if base.get("data_dir"):
        cmd += ["--data-dir", str(Path(base["data_dir"]).expanduser().resolve())]
    for item in entry["overrides"]:
        cmd += ["--set", item]
    if dense_from:
        cmd += ["--dense-from", str(Path(dense_from).resolve())]
    if not export:
        cmd.append("--no-export")
    if not timing:
        cmd.append("--no-timing")
    return tuple(cmd)


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the sweep process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: a killed sweep's cells run on and finish their round


def run_process(command: Iterable[str]) -> tuple[int, str]:
    """Run one cell; (exit code, last stderr line)."""
    env = dict(os.environ)
    proc = subprocess.run(list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, env=env, preexec_fn=_die_with_parent, check=False)
    lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
    return proc.returncode, (lines[-1] if lines else f"exit code {proc.returncode}")[-ERROR_TAIL:]


def run_local(jobs: list[CellJob], n_jobs: int, on_done: Callable[[CellResult], None]) -> list[CellResult]:
    """At most `n_jobs` cells at a time, each in its own process."""
    results: list[CellResult] = []
    guard = threading.Lock()

    def one(job: CellJob) -> None:
        code, err = run_process(job.command)
        result = CellResult(job.name, code, err if code else "")
        with guard:  # on_done writes the index: one writer at a time
            results.append(result)
            on_done(result)

    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        for f in [pool.submit(one, j) for j in jobs]:
            f.result()
    return results


def run_ray(jobs: list[CellJob], address: str, n_jobs: int, cpus_per_cell: float,
            on_done: Callable[[CellResult], None]) -> list[CellResult]:
    """Cells as Ray tasks. `address` "local" starts a Ray instance in this
    process with `n_jobs` CPUs (for one machine and for tests); "auto" or
    HOST:PORT joins a running cluster (`ray start --head` on one machine, `ray
    start --address HOST:6379` on the others; lth-tf installed on every node and
    the sweep folder on a file system all of them see)."""
    try:
        import ray
    except ImportError:
        raise LthError("--ray needs Ray; install it with: pip install 'lth-tf[ray]'") from None
    if address == "local":
        ray.init(num_cpus=max(1, n_jobs), include_dashboard=False, log_to_driver=False)
    else:
        check_reachable(address)  # ray.init waits minutes for an address where nothing listens
        try:
            ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise LthError(f"cannot reach the Ray cluster at {address!r} ({_first_line(e)}); "
                           "start it with `ray start --head` or pass --ray local") from None
    try:
        task = ray.remote(num_cpus=cpus_per_cell, max_retries=0)(run_process)
        pending = {task.remote(j.command): j.name for j in jobs}
        results = []
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                code, err = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # its worker died (node lost, OOM kill): a failed cell
                code, err = -1, _first_line(e)[-ERROR_TAIL:]
            result = CellResult(name, code, err if code else "")
            results.append(result)
            on_done(result)
        return results
    finally:
        ray.shutdown()


PROBE_SECONDS = 5.0  # how long a Ray address may take to accept a connection


def check_reachable(address: str, seconds: float = PROBE_SECONDS) -> None:
    """LthError unless something accepts a TCP connection at a HOST:PORT `address` within
    `seconds`; "auto" is left to Ray (which fails fast for it), any other form is refused."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        # Ray would take it to ray.init after the sweep folder is written, and name an
        # address the user never typed (it rewrites 127.0.0.1 to this node's IP)
        raise LthError(
            f"--ray {address!r} is not local, auto or HOST:PORT (a port 1..65535); "
            "write e.g. --ray 127.0.0.1:6379"
        )
    outcome: list[BaseException | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            outcome.append(e)

    # In a thread with one deadline: create_connection's timeout covers neither the name
    # lookup nor the second of several addresses, so alone it could wait far longer.
    worker = threading.Thread(target=probe, name="ray-probe", daemon=True)
    worker.start()
    worker.join(seconds + 0.5)
    try:
        if not outcome:
            raise TimeoutError("timed out")
        if outcome[0] is not None:
            raise outcome[0]
    except (OSError, OverflowError, ValueError) as e:
        reason = (f"no answer within {seconds:g} s" if isinstance(e, TimeoutError)
                  else (getattr(e, "strerror", None) or str(e)))
        raise LthError(
            f"nothing answers at the Ray address {address!r} ({reason}); "
            "start the cluster there with `ray start --head`, or pass --ray local"
        ) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
