"""`lth-tf` in a subprocess, as a user runs it: exit code, stdout, stderr, and whether TF loaded.

Shared by the CLI, hardening and store-write tests. `lth(...)` runs the CLI in a
folder and waits; `Launched` starts it and waits later (so many can run at once);
`assert_user_error` is the contract for errors a user can cause (exit 2, one line
on stderr, nothing on stdout); `tree` proves what was or was not written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
# The smoke preset (synthetic images, tiny CNN, 2 rounds), one epoch a round; the sparsest round wins.
SMOKE = ["--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.tolerance=1.0"]

# Runs the CLI and records whether TensorFlow got imported (in a file, so stdout
# and stderr stay exactly what the user would see).
RUNNER = """
import sys
from lth_tf.frontends.cli import main as cli
try:
    code = cli.main(sys.argv[2:])
finally:
    open(sys.argv[1], "w").write(str(int("tensorflow" in sys.modules)))
sys.exit(code)
"""


class Result:
    def __init__(self, proc: subprocess.CompletedProcess, tf_imported: bool, seconds: float):
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr
        self.tf_imported, self.seconds = tf_imported, seconds

    def __repr__(self) -> str:
        return f"exit {self.code}, stdout {self.out!r}, stderr {self.err!r}"


class Launched:
    """`lth-tf ARGS` started in a subprocess (cwd `tmp`); `.result()` waits for it."""

    def __init__(self, *args: str, tmp: Path):
        self.marker = Path(tempfile.gettempdir()) / f"lth-tf-test-{uuid.uuid4().hex}"
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(self.marker), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def result(self, timeout: float = 180) -> Result:
        out, err = self.proc.communicate(timeout=timeout)
        seconds = time.monotonic() - self.t0
        tf_imported = self.marker.read_text() == "1"
        self.marker.unlink()
        done = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        return Result(done, tf_imported, seconds)


def lth(*args: str, tmp: Path) -> Result:
    return Launched(*args, tmp=tmp).result()


def assert_user_error(r: Result, *words: str) -> str:
    """Exit 2, nothing on stdout, one line on stderr that contains `words`."""
    assert r.code == 2, r
    assert r.out == "", r
    lines = r.err.splitlines()
    assert len(lines) == 1, r
    line = lines[0]
    assert line.startswith("lth-tf: error: "), r
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    return line


def tree(path: Path) -> dict[str, str]:
    """{relative path: sha1 of contents} of every file below `path`."""
    return {
        str(p.relative_to(path)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
