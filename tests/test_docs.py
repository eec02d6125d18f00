"""The docs name only what exists, and nothing outside the repository.

README.md, CONTRIBUTING.md and docs/*.md mention modules, tests and benchmarks by
path; a move that forgets them fails here. Users and contributors read these
files without the folders beside the repository, so they never point there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
PATH = re.compile(r"(?<![\w./-])((?:lth_tf|tui|tests|benchmarks|examples|docs)/[\w./-]*\w)")
GENERATED = ("benchmarks/runs",)  # made by the benchmarks, git-ignored
OUTSIDE = re.compile(r"\.\./shared/docs|/work/|/tmp/studio")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_a_doc_names_exists(doc):
    missing = []
    for path in sorted(set(PATH.findall(doc.read_text(encoding="utf-8")))):
        if "*" in path or re.search(r"[A-Z]{3,}", path) or path.startswith(GENERATED):
            continue  # a pattern (rounds/NNN, results/NAME.json), prose ("examples/FLOPs") or made later
        if not (ROOT / path).exists() and not (ROOT / f"{path}.py").exists():
            missing.append(path)
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_points_outside_the_repository(doc):
    found = [m.group(0) for m in OUTSIDE.finditer(doc.read_text(encoding="utf-8"))]
    assert not found, f"{doc.name} points outside the repository: {found}"
