"""The run directory's names are spelled in one module (lth_tf/storage/rundir.py), and its
read-only API gives one answer to "is this a run directory"."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from lth_tf.core.errors import LthError
from lth_tf.storage import rundir

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "lth_tf" / "storage" / "rundir.py"


def spelled_names(path: Path) -> list[str]:
    """Where `path` spells a run-directory name as code: a string literal that is a file
    name of the layout (summary.json, ...), or a folder name (rounds, ticket, ...) joined
    to a path with `/`. Docstrings and comments are prose, not paths."""
    file_names = {n for n in rundir.NAMES if "." in n}
    folder_names = set(rundir.NAMES) - file_names
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
              if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT,
                                tokenize.DEDENT)]
    found = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.STRING:
            continue
        try:
            value = ast.literal_eval(tok.string)  # f-strings are checked by their text
        except (ValueError, SyntaxError):
            value = tok.string
        if not isinstance(value, str):
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if value in file_names or (value in folder_names and "/" in (before, after)) or tok.string[:2].lower() in ("f'", 'f"', "rf", "fr") and any(
                "}/" + n in tok.string for n in rundir.NAMES):
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    return found


def sources() -> list[Path]:
    return sorted(p for d in ("lth_tf", "tui") for p in (ROOT / d).rglob("*.py") if p != HOME)


# Files outside any run directory whose names happen to equal one of the layout's, each
# with the one place allowed to spell it and why.
NOT_RUN_DIR = {
    'lth_tf/export/__init__.py: "model.keras"': "the keras export's file, in an export folder",
}


def test_no_module_but_rundir_builds_a_run_directory_path():
    found = [hit for path in sources() for hit in spelled_names(path)
             if hit.split(":", 1)[0] + ":" + hit.split(":", 2)[2] not in NOT_RUN_DIR]
    assert not found, "run-directory names spelled outside lth_tf/storage/rundir.py:\n" + "\n".join(found)


def test_the_scan_finds_a_hand_built_path(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('p = run_dir / "summary.json"\nq = run_dir / "rounds" / "000"\n'
                   'r = f"{run_dir}/events.jsonl"\ndoc = "the summary.json of RUN_DIR/rounds"\n')
    original = spelled_names.__globals__["ROOT"]
    spelled_names.__globals__["ROOT"] = tmp_path
    try:
        hits = spelled_names(bad)
    finally:
        spelled_names.__globals__["ROOT"] = original
    assert [h.split(": ", 1)[1] for h in hits] == ['"summary.json"', '"rounds"', 'f"{run_dir}/events.jsonl"']


def test_one_rule_for_a_run_directory(tmp_path):
    with pytest.raises(LthError, match="run directory not found"):
        rundir.existing(tmp_path / "nope")
    (tmp_path / rundir.EVENTS_FILE).write_text("")  # events alone: not a run directory
    with pytest.raises(LthError, match="not a run directory"):
        rundir.existing(tmp_path)
    assert not rundir.is_run_dir(tmp_path)
    rundir.config_path(tmp_path).write_text(rundir.format_hash_line("abc") + "seed = 0\n")
    assert rundir.existing(tmp_path) == tmp_path and rundir.stored_hash(tmp_path) == "abc"


def test_completed_rounds_are_contiguous_and_skip_temporary_folders(tmp_path):
    for r in (0, 1, 3):
        d = rundir.round_dir(tmp_path, r)
        d.mkdir(parents=True)
        (d / rundir.METRICS_FILE).write_text("{}")
    (rundir.rounds_dir(tmp_path) / ".002.lth-1-abcdefgh.tmp").mkdir()
    assert rundir.completed_rounds(tmp_path) == [0, 1]
