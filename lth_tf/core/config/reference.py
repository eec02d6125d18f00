"""The settings reference of the user guide (docs/settings.md), rendered from the schema.

The schema's source is the one description of every setting: each field of the
section dataclasses in `schema.py` (and `seed` in `experiment.py`) carries a comment,
on its line or in a comment block above a group of fields. This module reads those
comments (tokenize, so a `#` inside a string is no comment), the defaults and types
from the dataclasses, the accepted names from the registries, and the presets, and
writes markdown. tests/test_settings_reference.py fails when the checked-in page and
this rendering differ, and when a field has no comment.

    python -m lth_tf.core.config.reference docs/settings.md    # rewrite the page
    python -m lth_tf.core.config.reference --check docs/settings.md
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import sys
import tokenize
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

from lth_tf.core import controls, criteria, rewind
from lth_tf.core.config import experiment, schema
from lth_tf.core.config.presets import _read_preset, preset_description, preset_names
from lth_tf.core.config.toml_io import _toml_value

COMMAND = "python -m lth_tf.core.config.reference docs/settings.md"

# Fields whose accepted values a registry or a names tuple of the schema lists.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.name": (*schema.DATASETS, "folder:PATH"),
    "model.name": (*schema.MODELS, "file:PATH", "py:module:function"),
    "train.optimizer": schema.OPTIMIZERS,
    "train.schedule": schema.SCHEDULES,
    "prune.scope": schema.SCOPES,
    "prune.rewind": tuple(m.usage for m in rewind.MODES.values()),
    "prune.structure": schema.STRUCTURES,
    "prune.controls": schema.CONTROL_KINDS,
}


@dataclass(frozen=True)
class Setting:
    key: str  # "prune.rate", or "seed" at the top level
    default: Any
    type: str  # the annotation as written in the source
    help: str  # the field's own comment, after its group's block comment when it opens one
    group: str | None  # the key whose block comment also describes this field


def comments(source: str) -> tuple[dict[int, str], set[int]]:
    """({line: comment text}, lines holding nothing but a comment) of a module's source."""
    found: dict[int, str] = {}
    code_lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            found[tok.start[0]] = tok.string.lstrip("#").strip()
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER):
            code_lines.update(range(tok.start[0], tok.end[0] + 1))
    return found, {line for line in found if line not in code_lines}


def settings_of(cls: type, prefix: str) -> list[Setting]:
    """One Setting per field of the dataclass `cls`, described by its source comments."""
    module = sys.modules[cls.__module__]
    source = inspect.getsource(module)
    found, standalone = comments(source)
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    defaults = {f.name: default_of(f) for f in dataclasses.fields(cls)}
    out: list[Setting] = []
    owner: str | None = None  # the key whose block comment covers the fields below it
    previous_end = None
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name = stmt.target.id
        if name not in defaults:
            continue
        key = f"{prefix}{name}"
        block = []
        line = stmt.lineno - 1
        while line in standalone:
            block.insert(0, found[line])
            line -= 1
        own = " ".join(found[n] for n in range(stmt.lineno, stmt.end_lineno + 1) if n in found)
        if block:
            owner = key
        elif previous_end != stmt.lineno - 1:  # a blank line ends a group
            owner = None
        text = " ".join(sentence(t) for t in [" ".join(block), own] if t)
        out.append(Setting(key, defaults[name], ast.unparse(stmt.annotation), text,
                           owner if owner != key else None))
        previous_end = stmt.end_lineno
    return out


def sentence(text: str) -> str:
    """A comment as a sentence: ends with a full stop."""
    return text if text.endswith(".") else f"{text}."


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def all_settings() -> dict[str, list[Setting]]:
    """{section name ("" for the top level): its settings}, in the schema's order."""
    out = {name: settings_of(cls, f"{name}.") for name, cls in schema.SECTIONS.items()}
    top = [s for s in settings_of(experiment.Experiment, "") if s.key in schema.TOP_LEVEL]
    out[""] = [s for s in top if s.key != "preset"]  # preset is a label, set by --preset
    return out


def value_text(value: Any) -> str:
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if value is None:
        return "none"
    return _toml_value(value)


def cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def setting_rows(settings: list[Setting]) -> list[str]:
    rows = ["| setting | default | type | what it does |", "|---|---|---|---|"]
    for s in settings:
        text = s.help
        if s.group:
            text = f"{text} See `{s.group}`." if text else f"See `{s.group}`."
        if s.key in CHOICES:
            text += "<br>Accepts: " + ", ".join(f"`{c}`" for c in CHOICES[s.key]) + "."
        rows.append(f"| `{s.key}` | `{cell(value_text(s.default))}` | {cell(s.type)} | {cell(text)} |")
    return rows


def preset_rows() -> list[str]:
    rows = ["| preset | what it is | what it sets |", "|---|---|---|"]
    for name in preset_names():
        raw = _read_preset(name)
        sets = [f"`{section}.{k} = {cell(value_text(v))}`"
                for section, table in raw.items() if isinstance(table, dict) for k, v in table.items()]
        rows.append(f"| `{name}` | {cell(preset_description(name))} | {'<br>'.join(sets)} |")
    return rows


def registry_lines() -> list[str]:
    lines = ["What each pruning criterion (`prune.structure`) and control (`prune.controls`) does:", ""]
    lines += [f"- `prune.structure = \"{n}\"`: {c.help}" for n, c in criteria.CRITERIA.items()]
    lines += [f"- `prune.controls = [\"{n}\"]`: {c.help}" for n, c in controls.CONTROLS.items()]
    return lines


def render() -> str:
    """The whole settings page (markdown)."""
    settings = all_settings()
    lines = [
        "# Settings reference",
        "",
        f"<!-- Generated from lth_tf/core/config/schema.py by `{COMMAND}`; edit the schema's",
        "comments, not this page (tests/test_settings_reference.py checks that they agree). -->",
        "",
        "Every setting of an experiment, its default and what it does. Give a setting as",
        "`--set section.key=value` (`lth-tf run`, `lth-tf sweep`, `lth-tui`), as `key = value`",
        "under a `[section]` table of a TOML file passed with `--config`, or in Python as",
        "`TicketSearch(..., settings={\"section.key\": value})`. With `--set`, a list is",
        "comma-separated (`prune.controls=random_reinit,random_mask`) and a mapping is",
        "`name:value,...` (`prune.layer_rates=conv1:0.1,output:0`). Order of precedence:",
        "the defaults below, then `--preset`, then `--config`, then each `--set` in turn.",
        "`--rounds N` is `prune.rounds`, `--seed S` is `seed`.",
        "",
        "A run directory is named after a hash of the settings that differ from these",
        "defaults, so running the same settings again resumes the run; `RUN_DIR/config.toml`",
        "holds every setting of a run and is a valid `--config` file.",
        "",
        "## Top level",
        "",
        *setting_rows(settings.pop("")),
    ]
    for section, items in settings.items():
        doc = inspect.getdoc(schema.SECTIONS[section]) or ""
        lines += ["", f"## [{section}]", "", doc.split("\n\n")[0].replace("\n", " "), "", *setting_rows(items)]
        if section == "prune":
            lines += ["", *registry_lines()]
    lines += ["", "## Presets", "", "`lth-tf presets` lists them; `--preset NAME` starts from one.", "",
              *preset_rows()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    if len(paths) != 1:
        sys.stderr.write("usage: python -m lth_tf.core.config.reference [--check] PATH\n")
        return 2
    path, text = Path(paths[0]), render()
    if check:
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        if not same:
            sys.stderr.write(f"{path} is out of date; run `{COMMAND}`\n")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
