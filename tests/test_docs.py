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


LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`|^(?: {4}|\t)[^\n]*$", re.DOTALL | re.MULTILINE)  # code, not links


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc):
    """Links work on GitHub as in the built site: relative, to files of the repository."""
    broken = []
    for target in LINK.findall(CODE.sub("", doc.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL, or an anchor on the same page (mkdocs --strict checks those)
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to files that do not exist: {broken}"


def nav_pages() -> list[str]:
    """The pages named in mkdocs.yml's nav (entries `- Title: page.md`)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    return re.findall(r"^\s+- [^:\n]+: (\S+\.md)\s*$", nav, re.MULTILINE)


def test_the_site_nav_lists_every_page_once():
    pages = nav_pages()
    on_disk = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert sorted(pages) == on_disk, "mkdocs.yml's nav and docs/*.md differ"
    assert len(pages) == len(set(pages))


def test_internals_is_under_contributors_not_the_user_guide():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:\n", 1)[1]
    contributors = text.split("- Contributors:", 1)
    assert len(contributors) == 2 and "internals.md" in contributors[1]
    assert "internals.md" not in contributors[0]


def test_the_readme_is_short_and_points_into_the_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("|")]
    assert all(len(row) <= 200 for row in rows), "long results rows belong in docs/results.md"
    for page in ("quickstart", "concepts", "own-model-and-data", "settings", "results"):
        assert f"(docs/{page}.md" in readme
