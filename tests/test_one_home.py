"""Every fact has one home (issue 23, item 4): one definition, imported by the others.

Most checks read the code (nothing runs): a fact typed a second time somewhere
fails here, naming the file and line. The rest call the one definition and check
that its users agree with it. No TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lth_tf
from lth_tf.core import config as C
from lth_tf.core import events as E
from lth_tf.core import schedule
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.cli import options
from lth_tf.frontends.sweep import command as sweep_command
from lth_tf.search import dense_from
from lth_tf.search.plan import Plan
from lth_tf.storage import atomic, rundir, store, summary

ROOT = Path(__file__).resolve().parents[1]


def sources(*tops: str, skip: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p for t in tops for p in (ROOT / t).rglob("*.py") if str(p.relative_to(ROOT)) not in skip)


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


def run_python(code: str) -> None:
    """Run `code` in a fresh interpreter on this checkout; fail with its stderr."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


# -- the planned rounds ------------------------------------------------------------------------
@pytest.mark.parametrize("one_shot", [False, True])
@pytest.mark.parametrize("rounds", [1, 3])
def test_the_planned_rounds_have_one_definition(one_shot, rounds):
    exp = C.resolve("smoke", overrides=[f"prune.rounds={rounds}", f"prune.one_shot={str(one_shot).lower()}"])
    expected = schedule.planned_rounds(rounds, one_shot)
    assert exp.planned_rounds == Plan.of(exp).last_round == expected


def test_no_module_but_the_schedule_counts_the_planned_rounds():
    """`1 if one_shot else rounds` is core/schedule.py's; others call planned_rounds."""
    found = []
    for path in sources("lth_tf", "tui", skip=("lth_tf/core/schedule.py",)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.IfExp) and "one_shot" in ast.unparse(node.test) \
                    and isinstance(node.body, ast.Constant) and node.body.value == 1:
                found.append(f"{where(path, node)}: {ast.unparse(node)}")
    assert not found, "planned rounds computed outside schedule.planned_rounds:\n" + "\n".join(found)


# -- the keys of metrics.json and summary.json ----------------------------------------------------
def test_summary_json_copies_the_keys_of_one_tuple_each():
    assert summary.SUMMARY_ROUND_KEYS[: len(rundir.REQUIRED_ROUND_KEYS)] == rundir.REQUIRED_ROUND_KEYS
    metrics = {k: i for i, k in enumerate(summary.SUMMARY_ROUND_KEYS)} | {"history": [], "best_epoch": 1}
    metrics["round"] = 0
    control = {k: 0.5 for k in rundir.REQUIRED_CONTROL_KEYS} | {"kind": "random_mask", "seconds": 1.0}
    built = summary.build_summary("h", None, "running", [metrics], [control], None)
    assert list(built["rounds"][0]) == [*summary.SUMMARY_ROUND_KEYS, "cumulative_cost", "stopped_at"]
    assert list(built["controls"][0]) == list(rundir.REQUIRED_CONTROL_KEYS)
    assert list(built["dense"]) == list(summary.DENSE_KEYS)


def test_no_module_types_a_round_or_control_key_tuple_again():
    """A tuple of string literals holding every required round key is rundir's alone."""
    required = set(rundir.REQUIRED_ROUND_KEYS)
    found = []
    for path in sources("lth_tf", "tui", "tests", "benchmarks", skip=("lth_tf/storage/rundir.py",)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Tuple, ast.List)):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                if required <= words:
                    found.append(f"{where(path, node)}: {ast.unparse(node)[:80]}")
    assert not found, "key tuples typed again (import rundir's or summary's):\n" + "\n".join(found)


def test_report_checks_a_summary_against_the_same_keys():
    from lth_tf.frontends.report import summary_problem

    row = {k: 0.5 for k in rundir.REQUIRED_ROUND_KEYS} | {"round": 0}
    for key in rundir.REQUIRED_ROUND_KEYS:
        assert key in (summary_problem({"rounds": [{k: v for k, v in row.items() if k != key}]}) or "")
    control = {k: 0.5 for k in rundir.REQUIRED_CONTROL_KEYS} | {"kind": "random_mask"}
    for key in rundir.REQUIRED_CONTROL_KEYS:
        bad = {"rounds": [row], "controls": [{k: v for k, v in control.items() if k != key}]}
        assert key in (summary_problem(bad) or "")


# -- knowledge-distillation key names -------------------------------------------------------------
def test_kd_key_names_are_spelled_in_the_event_records_only():
    home = "lth_tf/core/events/records.py"
    found = []
    for path in sources("lth_tf", "tui", skip=(home,)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in E.KD_KEYS:
                found.append(f"{where(path, node)}: {node.value!r}")
    assert not found, f"KD key names typed outside {home} (use events.KD_KEYS and its names):\n" + "\n".join(found)


# -- the experiment options of run, sweep and lth-tui ----------------------------------------------
EXPERIMENT = ["--preset", "smoke", "--config", "c.toml", "--set", "train.epochs=1", "--rounds", "3", "--seed", "4"]


def tui_args(argv: list[str]) -> argparse.Namespace:
    from tui.app import parse_args

    return parse_args(argv)


def parsed() -> dict[str, argparse.Namespace]:
    parser = cli.build_parser()
    return {
        "run": parser.parse_args(["run", *EXPERIMENT]),
        "sweep": parser.parse_args(["sweep", *EXPERIMENT, "--out", "s"]),
        "lth-tui": tui_args(EXPERIMENT),
    }


def test_run_sweep_and_tui_take_the_same_experiment_options():
    for command, args in parsed().items():
        assert (args.preset, args.config, args.data_dir) == ("smoke", "c.toml", None), command
        assert options.overrides(args) == ["train.epochs=1", "prune.rounds=3", "seed=4"], command


def test_the_experiment_options_are_defined_once():
    """No parser adds --preset, --config, --set, --rounds, --seed or --data-dir but options.py."""
    home = "lth_tf/frontends/cli/options.py"
    names = {"--preset", "--config", "--set", "--rounds", "--seed", "--data-dir"}
    found = []
    for path in sources("lth_tf", "tui", skip=(home,)):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" \
                    and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in names:
                found.append(f"{where(path, node)}: {node.args[0].value}")
    # export's --data-dir only names the data for the model's input shape: its own help
    assert [f for f in found if not f.startswith("lth_tf/frontends/cli/export.py")] == [], found


def test_a_sweep_takes_seed_and_rounds(tmp_path):
    parser = cli.build_parser()
    args = parser.parse_args(["sweep", "--preset", "smoke", "--rounds", "1", "--seed", "7", "--out", str(tmp_path)])
    base, _axes, seeds, planned = sweep_command.plan(args)
    assert seeds == [7] and base["overrides"] == ["prune.rounds=1"]
    assert [p.overrides for p in planned] == [("prune.rounds=1", "seed=7")]
    both = parser.parse_args(["sweep", "--preset", "smoke", "--seed", "7", "--seeds", "0-1", "--out", str(tmp_path)])
    with pytest.raises(LthError, match="--seed 7 or --seeds 0-1"):
        sweep_command.plan(both)
    assert sweep_command.plan(parser.parse_args(["sweep", "--preset", "smoke", "--out", "s"]))[2] == [0]


def test_one_data_dir_check_for_run_sweep_and_tui(tmp_path, capsys):
    from tui.app import main as tui_main

    missing = str(tmp_path / "no-data")
    assert cli.main(["run", "--preset", "smoke", "--data-dir", missing]) == 2
    run_line = capsys.readouterr().err.strip()
    assert cli.main(["sweep", "--preset", "smoke", "--data-dir", missing, "--out", str(tmp_path / "s")]) == 2
    sweep_line = capsys.readouterr().err.strip()
    assert tui_main(["--preset", "smoke", "--data-dir", missing]) == 2
    tui_line = capsys.readouterr().err.strip()
    with pytest.raises(LthError) as e:
        options.check_data_dir(missing)
    assert run_line == sweep_line == f"lth-tf: error: {e.value}" and tui_line == f"lth-tui: {e.value}"
    assert not (tmp_path / "s").exists()


def test_tui_takes_a_config_file_rounds_and_seed(tmp_path, monkeypatch):
    """--config alone starts the run; its settings, --rounds and --seed reach the experiment."""
    from textual.screen import Screen

    import tui.app as tui_app
    from tui.app import LthApp, main

    class Recorder(Screen):
        def __init__(self, exp=None, out=None, data_dir=None, attach=None):
            super().__init__()
            self.exp = exp

    config = tmp_path / "exp.toml"
    config.write_text('[data]\nname = "synthetic_images"\nval_size = 32\n[model]\nname = "tiny_cnn"\n')
    args = tui_args(["--config", str(config), "--rounds", "1", "--seed", "9"])
    monkeypatch.setattr(tui_app, "RunScreen", Recorder)

    async def body():
        app = LthApp(None, options.overrides(args), tmp_path, config=args.config)
        async with app.run_test() as pilot:
            await pilot.pause()
            assert isinstance(app.screen, Recorder)
            exp = app.screen.exp
            assert (exp.data.val_size, exp.prune.rounds, exp.seed) == (32, 1, 9)

    asyncio.run(body())
    bad = tmp_path / "bad.toml"
    bad.write_text("[prune]\nrate = 2.0\n")
    assert main(["--config", str(bad)]) == 2
    assert main(["--config", str(config), "--attach", str(tmp_path)]) == 2


# -- model.keras ---------------------------------------------------------------------------------
def test_the_store_writes_model_keras_through_the_callers_writer(tmp_path):
    run_dir = tmp_path / "run"
    given = []

    def save(path: Path) -> None:  # as keras.Model.save: the format follows the suffix
        given.append(path)
        path.write_bytes(b"theta0")

    path = store.RunStore(run_dir).save_model(save)
    assert path == rundir.model_path(run_dir) and path.read_bytes() == b"theta0"
    assert given[0].name == rundir.MODEL_FILE and given[0].parent != run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == [rundir.MODEL_FILE]  # no temporary folder left
    assert store.RunStore(run_dir).save_model(lambda p: pytest.fail("written twice")) == path

    def fail(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    other = tmp_path / "other"
    with pytest.raises(OSError):
        store.RunStore(other).save_model(fail)
    assert list(other.iterdir()) == []
    (run_dir / ".model.keras.tmp.keras").write_bytes(b"left by an older version")
    atomic.clean_leftovers([run_dir], legacy=True)
    assert sorted(p.name for p in run_dir.iterdir()) == [rundir.MODEL_FILE]


# -- public faces ----------------------------------------------------------------------------------
def test_package_faces_export_public_names_only():
    found = []
    for path in sources("lth_tf"):
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                found += [f"{where(path, node)}: {n}" for n in ast.literal_eval(node.value)
                          if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
    assert not found, "underscore names in a package's __all__:\n" + "\n".join(found)
    assert not [n for n in vars(C) if n.startswith("_") and not n.startswith("__")]


def test_experiment_values_by_key_are_what_dense_from_compares():
    exp = C.resolve("smoke", overrides=["prune.exclude=output", "prune.layer_rates=conv2:0.3,conv1:0.1"])
    values = exp.values_by_key()
    assert sorted(values) == sorted(k for k in C.all_keys() if k != "seed")
    assert values["prune.exclude"] == ["output"] and json.dumps(values)  # JSON-ready
    assert list(values["prune.layer_rates"]) == ["conv1", "conv2"]  # sorted
    assert dense_from.settings(exp) == {"seed": exp.seed, "preset": "smoke", **values}


def test_the_cli_entry_point_exports_only_its_own_names():
    path = ROOT / "lth_tf" / "frontends" / "cli" / "main.py"
    tree = ast.parse(path.read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert cli.__all__ and set(cli.__all__) <= defined, set(cli.__all__) - defined


def test_callers_use_the_pruning_face():
    """keras_side/pruning's modules are imported by their siblings only; everyone else
    imports the package (`from lth_tf.keras_side import pruning as P`). A test may
    import the one module it tests."""
    own = {"tests/test_prunable.py": {"prunable"}, "tests/test_rewind.py": {"rewind"}}
    face = "lth_tf.keras_side.pruning"
    inside = {p.stem for p in (ROOT / "lth_tf" / "keras_side" / "pruning").glob("*.py")} - {"__init__"}
    found = []
    for path in sources("lth_tf", "tui", "tests", "benchmarks", "examples"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("lth_tf/keras_side/pruning/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == face:
                subs = [a.name for a in node.names if a.name in inside]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(face + "."):
                subs = [node.module.split(".")[3]]
            elif isinstance(node, ast.Import):
                subs = [a.name.split(".")[3] for a in node.names if a.name.startswith(face + ".")]
            else:
                continue
            if any(sub not in own.get(rel, set()) for sub in subs):
                found.append(f"{where(path, node)}: {ast.unparse(node)}")
    assert not found, "imports of pruning's modules past its face:\n" + "\n".join(found)


def test_the_pruning_face_names_its_api_and_wrap_is_the_function():
    code = (
        "import sys, types\n"
        "from lth_tf.keras_side import pruning as P\n"
        "assert not isinstance(P.wrap, types.ModuleType) and callable(P.wrap)\n"
        "missing = [n for n in P.__all__ if not hasattr(P, n)]\n"
        "assert not missing, missing\n"
        "import lth_tf.keras_side.pruning.wrapping as W\n"
        "assert not hasattr(W, '__all__')\n"
    )
    run_python(code)


def test_nothing_that_runs_before_tensorflow_imports_the_pruning_face():
    code = (
        "import sys\n"
        "import lth_tf.frontends.cli.main, lth_tf.frontends.cli.options, lth_tf.frontends.sweep.command\n"
        "import lth_tf.frontends.report, lth_tf.storage.store, lth_tf.search.dense_from, tui.app\n"
        "heavy = [m for m in sys.modules if m.startswith(('tensorflow', 'lth_tf.keras_side.pruning'))]\n"
        "assert not heavy, heavy\n"
    )
    run_python(code)


# -- user-facing docs ------------------------------------------------------------------------------
def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.DOTALL)


def test_user_docs_import_only_the_public_face():
    """The Python of README, the user guide (docs/) and examples/ imports `lth_tf` and its
    `__all__` only."""
    found = []
    guide = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    codes = [(p.name, b) for p in guide if p.name != "internals.md" for b in python_blocks(p.read_text())]
    codes += [(str(p.relative_to(ROOT)), p.read_text()) for p in sources("examples")]
    for name, code in codes:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lth_tf"):
                if node.module != "lth_tf" or any(a.name not in lth_tf.__all__ for a in node.names):
                    found.append(f"{name}: {ast.unparse(node)}")
            elif isinstance(node, ast.Import):
                found += [f"{name}: {ast.unparse(node)}" for a in node.names
                          if a.name.startswith("lth_tf.")]
    assert not found, "user-facing code imports a module that is not lth_tf's public face:\n" + "\n".join(found)
