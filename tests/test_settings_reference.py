"""docs/settings.md is the schema rendered (lth_tf/core/config/reference.py), and every
setting is described. Pure Python: no TensorFlow, milliseconds."""

from __future__ import annotations

from pathlib import Path

from lth_tf.core import config as C
from lth_tf.core.config import reference

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "settings.md"


def test_the_checked_in_page_is_the_schema_rendered():
    assert PAGE.read_text(encoding="utf-8") == reference.render(), (
        f"docs/settings.md and the config schema disagree; run `{reference.COMMAND}` and commit it"
    )


def test_every_setting_has_a_description_and_a_row():
    settings = [s for group in reference.all_settings().values() for s in group]
    assert sorted(s.key for s in settings) == sorted(C.all_keys())
    undescribed = [s.key for s in settings if not s.help]
    assert not undescribed, f"add a comment to these fields in lth_tf/core/config/schema.py: {undescribed}"
    page = reference.render()
    assert all(f"| `{key}` |" in page for key in C.all_keys())


def test_comments_are_read_from_the_source_not_from_strings():
    source = 'class A:\n    # block\n    # more\n    x: str = "#no"  # own\n\n    y: int = 1\n'
    found, standalone = reference.comments(source)
    assert found == {2: "block", 3: "more", 4: "own"}
    assert standalone == {2, 3}


def test_a_block_comment_describes_the_fields_below_it_until_a_blank_line():
    by_key = {s.key: s for group in reference.all_settings().values() for s in group}
    early = by_key["prune.early_bird"]
    assert early.help.startswith("Early-bird rounds") and early.group is None
    assert by_key["prune.eb_distance"].group == "prune.early_bird"
    assert by_key["prune.rate"].group is None


def test_the_check_command_reports_drift(tmp_path):
    stale = tmp_path / "settings.md"
    stale.write_text("old\n", encoding="utf-8")
    assert reference.main(["--check", str(stale)]) == 1
    assert reference.main([str(stale)]) == 0
    assert reference.main(["--check", str(stale)]) == 0
