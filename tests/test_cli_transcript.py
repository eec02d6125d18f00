"""`lth-tf`'s observable behaviour, recorded: a golden transcript of CLI invocations.

A fixed list of `lth-tf` invocations (STEPS) runs in order in one fresh temporary
working directory, each in its own subprocess (no TensorFlow state leaks between
them); later steps use earlier outputs: run -> resume -> report -> export in every
format -> sweep -> compare -> bad input. For each one the transcript holds the exit
code, stdout and stderr (normalised, below), and for the folders it wrote (a run
dir, an export, a sweep, a compare folder, or a folder an error must not touch)
the sorted list of files in it and, for every summary.json below it, its status,
each round's (round, sparsity, val_acc, test_acc), the controls and the ticket.
The transcript must equal tests/fixtures/cli_transcript.json exactly; on a
mismatch the test prints a unified diff of the first invocation that differs.

The CLI is launched through the console script that pyproject.toml names for
`lth-tf` (`[project.scripts]`), so the test still finds it after modules move.

Normalised (everything else is compared exactly: exit codes, every stdout/stderr
line, run directory names, which carry the config hash, accuracies and sparsities
as printed, file names):
- the temporary working directory's path -> <TMP> (it is new each time);
- wall times: the seconds at the end of each `round N  sparsity ...` line, the
  "X s training" of `report`'s cost line and its table's `seconds` column -> <SEC>;
- file sizes of SavedModels/TFLite files (`0.182 MB`) and what is computed from
  them (`gzip of the ticket is 89.7% ...`, `variables/ ... = 1.33x the bound`) ->
  <MB>, <PCT>, <X>: the size bound itself (`the bound 0.001 MB`) is computed from
  the weights and stays exact;
- TensorBoard event-file names (they hold a timestamp, the host name and a pid) ->
  events.out.tfevents.<TB>;
- the site-packages folder and line number in a warning TensorFlow prints itself
  (`tf.lite.Interpreter is deprecated`, on `export --format tflite`) -> <SITE>:<LINE>;
- `export`'s measured latencies (`b1 0.41 ms`, `whole graph (N nodes) 3 ms`) -> <MS>, the
  machine after them (`(CPU model, 2 cores, TF 2.21.0)`) -> (<MACHINE>), and the latency
  ratios against a dense export timed beside it (`b1 0.62x`) -> <X>; params and MACs stay exact.
Checked by recording the whole transcript three times at 6bd3711 (two with only
<TMP> normalised, LTH_TRANSCRIPT_RAW=1) and diffing: they differed in the round
seconds, the report's "s training" and seconds column, the gzip percentages of
`export` and the TensorBoard file names, and in nothing else; after normalising, all
recordings were identical. Sizes in MB happened to agree at 3 decimals in those
recordings, but they are not stable: saved_model.pb of the same round is
148562/148621/148926 bytes when written by different processes (fingerprint.pb
96/97), and a dense export's gzip size printed 0.025 and 0.026 MB in two runs.
The temp path and the site-packages path vary by construction.

Re-record (after an intended change of behaviour only):
    python tests/test_cli_transcript.py --record
or  LTH_RECORD_TRANSCRIPT=1 python -m pytest -m slow tests/test_cli_transcript.py
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "cli_transcript.json"
RECORD_ENV = "LTH_RECORD_TRANSCRIPT"
# Set (to anything) to keep everything but the temp path: for checking which values vary.
RAW_ENV = "LTH_TRANSCRIPT_RAW"
TIMEOUT = 900  # seconds, per invocation

# 1-epoch smoke runs; tolerance 1.0 so that the sparsest round is the ticket.
SMOKE = ["--preset", "smoke", "--set", "train.epochs=1", "--set", "prune.tolerance=1.0"]

# Variables that change what lth-tf does; the test runs without them.
DROPPED_ENV = (
    "LTH_DATA_DIR",
    "LTH_CACHE_DIR",
    "LTH_SCRATCH_DIR",
    "LTH_COLLECTIVE_TIMEOUT",
    "TF_CONFIG",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_ENABLE_ONEDNN_OPTS",
    "PYTHONWARNINGS",
    "COLUMNS",
    "LINES",
)


# -- setups: file changes a step needs before it runs ------------------------------------------
def _copy_run(tmp: Path, run: str, dest_root: str) -> Path:
    src = tmp / run
    dst = tmp / dest_root / src.name
    shutil.copytree(src, dst)
    return dst


def setup_partial(tmp: Path, v: dict) -> None:
    """A run stopped during round 2: rounds 0-1 stored, no round 2, control or ticket."""
    dst = _copy_run(tmp, v["run"], "partial")
    for name in ("rounds/002", "controls", "ticket"):
        shutil.rmtree(dst / name)


def setup_mine(tmp: Path, v: dict) -> None:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "a.txt").write_text("mine\n")


def setup_afile(tmp: Path, v: dict) -> None:
    (tmp / "afile").write_text("not a folder\n")


def setup_bad_toml(tmp: Path, v: dict) -> None:
    (tmp / "bad.toml").write_text("[train\nepochs = \n")


def setup_corrupt(tmp: Path, v: dict) -> None:
    """A copy of the finished run whose config.toml is not TOML any more."""
    dst = _copy_run(tmp, v["run"], "corrupt")
    (dst / "config.toml").write_text("this is = not [valid toml\n")


SETUPS = {
    "partial": (setup_partial, "copy {run} to partial/ without rounds/002, controls/, ticket/"),
    "mine": (setup_mine, "mkdir mine; write mine/a.txt"),
    "afile": (setup_afile, "write the file afile"),
    "bad_toml": (setup_bad_toml, "write bad.toml (not TOML)"),
    "corrupt": (setup_corrupt, "copy {run} to corrupt/ and overwrite its config.toml with non-TOML"),
}


# -- the invocations ---------------------------------------------------------------------------
# id: name; argv: lth-tf arguments ({var} = a saved stdout); save: keep stdout (stripped)
# as var; inspect: folders to list after the step ("{stdout}" = the path printed);
# setup: a SETUPS key run before the step.
STEPS: list[dict] = [
    {"id": "presets", "argv": ["presets"]},
    {"id": "help", "argv": ["--help"]},
    {"id": "run", "argv": ["run", *SMOKE, "--out", "runs"], "save": "run",
     "inspect": ["{stdout}"]},
    {"id": "resume-finished", "argv": ["run", *SMOKE, "--out", "runs"], "inspect": ["{stdout}"]},
    {"id": "run-from-config", "argv": ["run", "--config", "{run}/config.toml", "--out", "runs"],
     "inspect": ["{stdout}"]},
    {"id": "resume-partial", "setup": "partial", "argv": ["run", *SMOKE, "--out", "partial"],
     "inspect": ["{stdout}"]},
    {"id": "report", "argv": ["report", "{run}"]},
    {"id": "export-default", "argv": ["export", "{run}", "--out", "exp-default"],
     "inspect": ["{stdout}"]},
    {"id": "export-dense-round0",
     "argv": ["export", "{run}", "--round", "0", "--format", "dense", "--out", "exp-dense0"],
     "inspect": ["{stdout}"]},
    {"id": "export-sparse", "argv": ["export", "{run}", "--format", "sparse", "--out", "exp-sparse"],
     "inspect": ["{stdout}"]},
    {"id": "export-tflite", "argv": ["export", "{run}", "--format", "tflite", "--out", "exp-tflite"],
     "inspect": ["{stdout}"]},
    {"id": "export-dense-round1",
     "argv": ["export", "{run}", "--round", "1", "--format", "dense", "--out", "exp-dense1"],
     "inspect": ["{stdout}"]},
    {"id": "run-channels",
     "argv": ["run", *SMOKE, "--set", "prune.structure=channels", "--rounds", "1", "--out", "runs"],
     "save": "channels", "inspect": ["{stdout}"]},
    {"id": "export-narrow", "argv": ["export", "{channels}", "--format", "narrow", "--out", "exp-narrow"],
     "inspect": ["{stdout}"]},
    {"id": "sweep",
     "argv": ["sweep", *SMOKE, "--set", "prune.rounds=1", "--seeds", "0-1", "--jobs", "1",
              "--out", "sweep"],
     "inspect": ["{stdout}"]},
    {"id": "sweep-again",
     "argv": ["sweep", *SMOKE, "--set", "prune.rounds=1", "--seeds", "0-1", "--jobs", "1",
              "--out", "sweep"]},
    {"id": "compare-sweep", "argv": ["compare", "sweep"], "inspect": ["sweep/compare"]},
    {"id": "compare-runs", "argv": ["compare", "{run}", "{channels}", "--out", "cmp"],
     "inspect": ["cmp"]},
    # -- bad input: exit 2, one line on stderr, nothing written
    {"id": "bad-unknown-preset", "argv": ["run", "--preset", "nope", "--out", "runs"]},
    {"id": "bad-unknown-set-key", "argv": ["run", "--preset", "smoke", "--set", "train.epoch=3"]},
    {"id": "bad-value-type", "argv": ["run", "--preset", "smoke", "--set", "train.epochs=abc"]},
    {"id": "bad-value-range", "argv": ["run", "--preset", "smoke", "--set", "prune.rate=1.5"]},
    {"id": "bad-no-experiment", "argv": ["run"]},
    {"id": "bad-no-command", "argv": []},
    {"id": "bad-rounds-not-int", "argv": ["run", "--preset", "smoke", "--rounds", "abc"]},
    {"id": "bad-report-missing-dir", "argv": ["report", "nope"]},
    {"id": "bad-export-round-99", "argv": ["export", "{run}", "--round", "99", "--out", "x"],
     "inspect": ["x"]},
    {"id": "bad-export-onto-folder", "setup": "mine", "argv": ["export", "{run}", "--out", "mine"],
     "inspect": ["mine"]},
    {"id": "bad-export-onto-own-ticket", "argv": ["export", "{run}", "--out", "{run}/ticket"]},
    {"id": "bad-export-format", "argv": ["export", "{run}", "--format", "onnx", "--out", "x"]},
    {"id": "bad-data-dir-file", "setup": "afile",
     "argv": ["run", *SMOKE, "--data-dir", "afile", "--out", "runs"]},
    {"id": "bad-data-dir-missing", "argv": ["run", *SMOKE, "--data-dir", "nope", "--out", "runs"]},
    {"id": "bad-out-is-file", "argv": ["run", *SMOKE, "--out", "afile"], "inspect": ["afile"]},
    {"id": "bad-config-not-toml", "setup": "bad_toml", "argv": ["run", "--config", "bad.toml"]},
    {"id": "bad-config-missing", "argv": ["run", "--config", "nope.toml"]},
    {"id": "corrupt-config-report", "setup": "corrupt", "argv": ["report", "corrupt/{run_name}"]},
    {"id": "corrupt-config-export", "argv": ["export", "corrupt/{run_name}", "--out", "y"],
     "inspect": ["y"]},
    {"id": "corrupt-config-run", "argv": ["run", *SMOKE, "--out", "corrupt"]},
    {"id": "bad-sweep-grid-key",
     "argv": ["sweep", "--preset", "smoke", "--grid", "prune.nope=1,2", "--out", "sweep-bad"],
     "inspect": ["sweep-bad"]},
    {"id": "bad-sweep-seeds", "argv": ["sweep", "--preset", "smoke", "--seeds", "2-a", "--out", "sweep-bad"]},
    {"id": "bad-compare-missing", "argv": ["compare", "nope"]},
]


# -- launching ---------------------------------------------------------------------------------
def entry_point(root: Path = ROOT) -> tuple[str, str]:
    """(module, function) of the `lth-tf` console script in pyproject.toml."""
    with open(root / "pyproject.toml", "rb") as f:
        spec = tomllib.load(f)["project"]["scripts"]["lth-tf"]
    module, _, func = spec.partition(":")
    return module.strip(), func.strip()


def launch(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    module, func = entry_point()
    code = (
        "import sys, importlib; "
        f"m = importlib.import_module({module!r}); "
        f"sys.exit(getattr(m, {func!r})(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="100", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")
    # An empty user cache (never created: nothing here tunes or decodes CIFAR): no `lth-tf
    # tune` winner of this machine changes the runs' speed settings; the rules choose
    # float32 for the smoke preset's tiny CNN on every CPU kind, so the transcript holds everywhere.
    env["LTH_CACHE_DIR"] = str(Path(cwd) / ".lth-cache")
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        check=False,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


# -- normalising -------------------------------------------------------------------------------
_SITES = sorted(
    {p for p in (sysconfig.get_paths()[k] for k in ("purelib", "platlib")) if p}
    | {str(Path(p).resolve()) for p in (sysconfig.get_paths()[k] for k in ("purelib", "platlib")) if p},
    key=len,
    reverse=True,
)
_ROUND_SECONDS = re.compile(r"^(round +\d+  sparsity .*\d%  )( *\d+\.\ds)(.*)$")
_TRAINING_SECONDS = re.compile(r"\b\d+\.\d s training\b")
_MB = re.compile(r"(?<!the bound )\b\d+\.\d{3} MB\b")
_GZIP_PCT = re.compile(r"(gzip of the \w+ is )\d+\.\d%")
_BOUND_RATIO = re.compile(r"(= )\d+\.\d{2}x( the bound)")
_WARNING_AT = re.compile(r"^(<SITE>/\S+\.py):\d+:")
_TB = re.compile(r"events\.out\.tfevents\.[^/]+$")
# export's cost line and latency ratios: measured times, and the machine they were measured on
_RUN = r"(\bb\d+|whole graph \(\d+ nodes\))"
_LATENCY_MS = re.compile(_RUN + r" [\d.e+-]+ ms\b")
_MACHINE = re.compile(r"( ms) \(.+, \d+ cores, TF \S+\)$")  # a CPU name may hold "(R)"
_LATENCY_RATIO = re.compile(_RUN + r" \d+\.\d{2}x")


def normalise_text(text: str, tmp: Path) -> list[str]:
    for t in sorted({str(tmp), str(tmp.resolve())}, key=len, reverse=True):
        text = text.replace(t, "<TMP>")
    if os.environ.get(RAW_ENV):
        return text.splitlines()
    return normalise_lines(text)


def normalise_lines(text: str) -> list[str]:
    for site in _SITES:
        text = text.replace(site, "<SITE>")
    out: list[str] = []
    seconds_col: int | None = None
    for line in text.splitlines():
        line = _ROUND_SECONDS.sub(lambda m: m.group(1) + "<SEC>" + m.group(3), line)
        line = _TRAINING_SECONDS.sub("<SEC> s training", line)
        line = _MB.sub("<MB> MB", line)
        line = _GZIP_PCT.sub(r"\1<PCT>%", line)
        line = _BOUND_RATIO.sub(r"\1<X>x\2", line)
        line = _WARNING_AT.sub(r"\1:<LINE>:", line)
        line = _MACHINE.sub(r"\1 (<MACHINE>)", _LATENCY_MS.sub(r"\1 <MS> ms", line))
        line = _LATENCY_RATIO.sub(r"\1 <X>x", line)
        # markdown tables: a column headed "seconds" holds wall times
        if line.startswith("|") and line.endswith("|"):
            cells = line.split("|")
            names = [c.strip() for c in cells]
            if "seconds" in names:
                seconds_col = names.index("seconds")
            elif seconds_col is not None and len(cells) > seconds_col and not set(names[1]) <= {"-", ":"}:
                if cells[seconds_col].strip():
                    cells[seconds_col] = " <SEC> "
                line = "|".join(cells)
        else:
            seconds_col = None
        out.append(line)
    return out


def list_files(folder: Path) -> list[str]:
    names = []
    for p in folder.rglob("*"):
        if p.is_file():
            rel = p.relative_to(folder).as_posix()
            names.append(rel if os.environ.get(RAW_ENV) else _TB.sub("events.out.tfevents.<TB>", rel))
    return sorted(names)


def describe_folder(folder: Path) -> dict:
    if not folder.exists():
        return {"exists": False}
    if not folder.is_dir():
        return {"exists": True, "file": folder.read_text(errors="replace").splitlines()}
    summaries = {}
    for s in sorted(folder.rglob("summary.json")):
        d = json.loads(s.read_text())
        t = d.get("ticket")
        summaries[s.relative_to(folder).as_posix()] = {
            "status": d.get("status"),
            "rounds": [[r["round"], r["sparsity"], r["val_acc"], r["test_acc"]] for r in d.get("rounds", [])],
            "controls": [[c["kind"], c["round"], c["sparsity"], c["test_acc"]] for c in d.get("controls", [])],
            "ticket": None if t is None else [t["round"], t["sparsity"], t["test_acc"]],
        }
    return {"exists": True, "files": list_files(folder), "summaries": summaries}


# -- recording ---------------------------------------------------------------------------------
def _fill(s: str, v: dict) -> str:
    return s.format(**v)


def record(tmp: Path, log=None) -> dict:
    """Run every step in `tmp`; the transcript (JSON-able)."""
    v: dict[str, str] = {}
    entries = []
    for step in STEPS:
        t0 = time.monotonic()
        entry: dict = {"id": step["id"]}
        if "setup" in step:
            fn, what = SETUPS[step["setup"]]
            fn(tmp, v)
            entry["setup"] = _fill(what, v)
        argv = [_fill(a, v) for a in step["argv"]]
        r = launch(argv, tmp)
        entry["argv"] = argv
        entry["exit_code"] = r.returncode
        entry["stdout"] = normalise_text(r.stdout, tmp)
        entry["stderr"] = normalise_text(r.stderr, tmp)
        printed = r.stdout.strip()
        if "save" in step:
            v[step["save"]] = printed
            if step["save"] == "run":
                v["run_name"] = Path(printed).name
        inspected = {}
        for spec in step.get("inspect", []):
            rel = printed if spec == "{stdout}" else _fill(spec, v)
            if not rel:
                inspected[spec] = {"exists": False}
                continue
            inspected[rel] = describe_folder(tmp / rel)
        if inspected:
            entry["folders"] = inspected
        entries.append(entry)
        if log:
            log(f"{step['id']:28s} exit {r.returncode}  {time.monotonic() - t0:5.1f}s")
    module, func = entry_point()
    return {
        "about": "golden transcript of lth-tf invocations; see tests/test_cli_transcript.py",
        "entry_point": f"{module}:{func}",
        "invocations": entries,
    }


def render(entry: dict) -> list[str]:
    """An invocation as text lines (for diffs)."""
    lines = [f"### {entry['id']}"]
    if "setup" in entry:
        lines.append(f"# setup: {entry['setup']}")
    lines.append("$ lth-tf " + " ".join(entry["argv"]))
    lines.append(f"exit {entry['exit_code']}")
    lines.append("--- stdout")
    lines += entry["stdout"]
    lines.append("--- stderr")
    lines += entry["stderr"]
    for name, f in entry.get("folders", {}).items():
        lines.append(f"--- folder {name}")
        if not f["exists"]:
            lines.append("(does not exist)")
            continue
        if "file" in f:
            lines.append("(a file:)")
            lines += f["file"]
            continue
        lines += f["files"]
        for s, d in f["summaries"].items():
            lines.append(f"--- {name}/{s}: status {d['status']}, ticket {d['ticket']}")
            lines += [f"round {r}" for r in d["rounds"]]
            lines += [f"control {c}" for c in d["controls"]]
    return lines


def compare(expected: dict, actual: dict) -> str | None:
    """None if equal; else a message with a unified diff of the first differing invocation."""
    # "about" and "entry_point" say how it was recorded (the entry point moves with the code).
    exp_e, act_e = expected["invocations"], actual["invocations"]
    if exp_e == act_e:
        return None
    differing = []
    for i in range(max(len(exp_e), len(act_e))):
        a = exp_e[i] if i < len(exp_e) else None
        b = act_e[i] if i < len(act_e) else None
        if a != b:
            differing.append((i, a, b))
    i, a, b = differing[0]
    diff = difflib.unified_diff(
        render(a) if a else [],
        render(b) if b else [],
        fromfile=f"recorded #{i}",
        tofile=f"now #{i}",
        lineterm="",
    )
    ids = ", ".join((x or y)["id"] for _, x, y in differing)
    return (
        f"{len(differing)} invocation(s) differ from {FIXTURE.name}: {ids}\n"
        f"first: #{i} {(a or b)['id']}\n" + "\n".join(diff)
    )


def write_fixture(transcript: dict) -> None:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(transcript, indent=1, ensure_ascii=False) + "\n")


# -- the test ----------------------------------------------------------------------------------
def test_cli_transcript_is_unchanged(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    actual = record(work)
    if os.environ.get(RECORD_ENV):
        write_fixture(actual)
        pytest.skip(f"recorded {FIXTURE}")
    assert FIXTURE.exists(), f"no {FIXTURE}; record it with python {Path(__file__).name} --record"
    expected = json.loads(FIXTURE.read_text())
    problem = compare(expected, actual)
    assert problem is None, problem


def test_transcript_has_the_invocations_the_issue_asks_for():
    assert len(STEPS) >= 18
    commands = [s["argv"][0] for s in STEPS if s["argv"]]
    assert {"presets", "run", "report", "export", "sweep", "compare"} <= set(commands)
    formats = {s["argv"][s["argv"].index("--format") + 1] for s in STEPS if "--format" in s["argv"]}
    assert {"dense", "sparse", "tflite", "narrow"} <= formats


def main(argv: list[str]) -> int:
    """`python tests/test_cli_transcript.py --record [--to FILE]`: write the fixture."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--record", action="store_true", help=f"write {FIXTURE.relative_to(ROOT)}")
    p.add_argument("--to", default=None, help="write the transcript here instead (no fixture change)")
    p.add_argument("--keep", action="store_true", help="keep the temporary working directory")
    args = p.parse_args(argv)
    if not (args.record or args.to):
        p.error("pass --record (or --to FILE)")
    tmp = Path(tempfile.mkdtemp(prefix="lth-transcript-"))
    try:
        work = tmp / "work"
        work.mkdir()
        transcript = record(work, log=lambda s: print(s, file=sys.stderr, flush=True))
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.to:
        Path(args.to).write_text(json.dumps(transcript, indent=1, ensure_ascii=False) + "\n")
        print(args.to)
    else:
        write_fixture(transcript)
        print(FIXTURE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
