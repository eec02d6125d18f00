"""Sweep grids and `compare`'s aggregation, on fabricated run directories. No TensorFlow."""

from __future__ import annotations

import json
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli.main import main
from lth_tf.frontends.compare import aggregate as A
from lth_tf.frontends.compare import write
from lth_tf.frontends.sweep import grid as G
from lth_tf.storage import store


# -- grid -------------------------------------------------------------------------------------
@given(st.lists(st.integers(0, 300), min_size=1, max_size=20))
def test_seed_lists_and_ranges_parse_to_the_same_seeds(seeds):
    text = ",".join(map(str, seeds))
    assert G.parse_seeds(text) == sorted(set(seeds))
    lo, hi = min(seeds), max(seeds)
    assert G.parse_seeds(f"{lo}-{hi}") == list(range(lo, hi + 1))


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-", "-2", "0-99999", "1,,2"])
def test_bad_seeds_are_one_line_errors(text):
    with pytest.raises(LthError) as e:
        G.parse_seeds(text)
    assert "\n" not in str(e.value) and "--seeds" in str(e.value)


@given(st.lists(st.integers(1, 3), min_size=0, max_size=3), st.integers(1, 4))
def test_cells_are_the_grid_times_the_seeds_with_unique_names(sizes, n_seeds):
    items = [f"k{i}=" + ",".join(f"v{j}" for j in range(n)) for i, n in enumerate(sizes)]
    cells = G.plan_cells(G.parse_grid(items), list(range(n_seeds)))
    expected = n_seeds
    for n in sizes:
        expected *= n
    assert len(cells) == expected
    assert len({c.name for c in cells}) == expected
    assert all(len(c.setting) == len(sizes) for c in cells)


@pytest.mark.parametrize("items", [["prune.rate"], ["=a,b"], ["seed=1,2"], ["a=x,x"], ["a=x,"],
                                   ["a=1,2", "a=3"]])
def test_bad_grid_axes_are_one_line_errors(items):
    with pytest.raises(LthError) as e:
        G.parse_grid(items)
    assert "\n" not in str(e.value)


# -- aggregation ------------------------------------------------------------------------------
def _summary(tests: list[float], sparsities: list[float], control: float | None = None) -> dict:
    rounds = [{"round": i, "sparsity": s, "val_acc": t, "test_acc": t}
              for i, (t, s) in enumerate(zip(tests, sparsities))]
    controls = ([{"kind": "random_reinit", "round": len(tests) - 1, "sparsity": sparsities[-1],
                  "val_acc": control, "test_acc": control}] if control is not None else [])
    return {"status": "finished", "rounds": rounds, "controls": controls, "ticket": None}


def test_a_settings_ticket_is_the_winner_rule_on_mean_validation_accuracy():
    """Not the old rule (test within 1 point at this and every lower sparsity): the sparsest round
    whose mean validation accuracy is at least dense's minus the tolerance; a dip does not end it."""
    def run(seed, vals, tests):
        rounds = [{"round": i, "sparsity": s, "val_acc": v, "test_acc": t}
                  for i, (s, v, t) in enumerate(zip([0.0, 0.2, 0.36, 0.49], vals, tests))]
        return A.Run(f"r{seed}", {"prune.tolerance": 0.0}, seed, {"rounds": rounds, "controls": []}, 3)

    runs = [run(0, [0.80, 0.79, 0.81, 0.80], [0.80, 0.70, 0.70, 0.70]),
            run(1, [0.80, 0.80, 0.80, 0.79], [0.80, 0.70, 0.70, 0.70])]
    (s,) = [A.aggregate(g) for g in A.group(runs)]
    # val means: 0.80, 0.795 (below), 0.805, 0.795 (below): round 2, although round 1 dips
    assert s.decision.round == 2 and s.max_matching_sparsity == 0.36 and not s.decision.last_planned
    assert s.ticket["test_mean"] == pytest.approx(0.70)  # chosen on validation, test reported
    # a tolerance of 1 point (the setting's prune.tolerance, or --tolerance) reaches the last round
    (s,) = [A.aggregate(g, tolerance=0.01) for g in A.group(runs)]
    assert s.decision.round == 3 and s.decision.last_planned


def test_compare_of_one_run_names_the_ticket_its_summary_names():
    """The issue's Cora run: its report said 96.48% and compare 20.00%. One rule now."""
    from lth_tf.storage.summary import pick_winner

    sparsity = [1 - 0.8**r for r in range(16)]
    val = [0.790, 0.792, 0.788, 0.794, 0.790, 0.789, 0.796, 0.790, 0.786, 0.791, 0.788, 0.784,
           0.790, 0.782, 0.780, 0.790]
    test = [0.815, 0.812, 0.800, 0.806, 0.801, 0.803, 0.800, 0.796, 0.798, 0.794, 0.795, 0.790,
            0.792, 0.785, 0.781, 0.786]
    rounds = [{"round": r, "sparsity": sparsity[r], "val_acc": val[r], "test_acc": test[r]} for r in range(16)]
    summary = {"rounds": rounds, "controls": [], "num_classes": 7}
    (s,) = [A.aggregate(g) for g in A.group([A.Run("cora", {}, 0, summary, 20)])]
    decision = pick_winner(rounds, 0.0, num_classes=7, planned_rounds=20)
    assert decision.round == s.decision.round == 15
    assert s.max_matching_sparsity == decision.sparsity == pytest.approx(sparsity[15])
    # one seed has no spread: no "± 0.00" (the "n=2 and ± 0.00" came from a seed twice)
    table = "\n".join(write.summary_table([s]))
    assert "| 1 (0) | 81.50 | 15 | 96.48 | 78.60 |" in table and "±" not in table


def test_a_seed_given_twice_is_refused():
    summary = _summary([0.8, 0.8], [0.0, 0.5])
    runs = [A.Run(name, {"prune.rate": 0.5}, 0, summary) for name in ("runs/a", "copy/a")]
    with pytest.raises(LthError, match="seed 0") as e:
        A.check_seeds(A.group(runs))
    assert "runs/a" in str(e.value) and "copy/a" in str(e.value) and "\n" not in str(e.value)


def test_settings_group_by_everything_but_the_seed_and_average_per_round():
    sp = [0.0, 0.5, 0.75]
    runs = [A.Run(f"r{seed}{rw}", {"prune.rewind": rw, "prune.rate": 0.5}, seed,
                  _summary([0.8 + seed / 100, 0.7, 0.6 - seed / 100], sp, control=0.5 + seed / 10))
            for rw in ("init", "lr") for seed in (0, 1, 2)]
    settings = [A.aggregate(s) for s in A.group(runs)]
    assert [s.label for s in settings] == ["prune.rewind=init", "prune.rewind=lr"]
    s = settings[0]
    assert s.seeds == [0, 1, 2]
    assert s.rounds[0]["test_mean"] == pytest.approx(statistics.fmean([0.80, 0.81, 0.82]))
    assert s.rounds[2]["test_std"] == pytest.approx(statistics.stdev([0.60, 0.59, 0.58]))
    assert s.controls["random_reinit"][0]["test_mean"] == pytest.approx(0.6)
    assert s.max_matching_sparsity == 0.0  # round 1 is 11 points below dense


# -- the command, on run directories written by the store -------------------------------------
def _fake_run(root, seed: int, rewind: str, tests: list[float]):
    exp = C.resolve("smoke", overrides=[f"seed={seed}", f"prune.rewind={rewind}"])
    run_dir = root / exp.run_name()
    run = store.RunStore(run_dir)
    run.claim(exp.to_toml(), exp.hash())
    run.write_summary(_summary(tests, [0.0, 0.5, 0.75][: len(tests)]))
    return run_dir


def test_compare_writes_markdown_png_and_json(tmp_path, capsys):
    dirs = [_fake_run(tmp_path / "runs", s, rw, [0.8, 0.8 - s / 100, 0.7])
            for s in (0, 1) for rw in ("init", "lr")]
    unfinished = tmp_path / "runs" / "not-started"
    exp = C.resolve("smoke", overrides=["seed=9"])
    store.RunStore(unfinished).claim(exp.to_toml(), exp.hash())
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, dirs), str(unfinished), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "| prune.rewind=init | 2 (0-1) |" in captured.out
    assert "left out 1 run" in captured.err
    data = json.loads((out / "compare.json").read_text())
    assert [s["seeds"] for s in data["settings"]] == [[0, 1], [0, 1]]
    # tolerance 0 (smoke's prune.tolerance): round 1's mean val 0.795 is below dense's 0.8
    assert data["settings"][0]["max_matching_sparsity"] == 0.0
    assert data["settings"][0]["winner"]["round"] is None and data["settings"][0]["ticket"] is None
    assert "winner rule" in data["winner_rule"].lower() or "winning ticket" in data["winner_rule"]
    assert "minus 0 points (prune.tolerance = 0)" in data["winner_rule"]
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (out / "compare.svg").read_bytes()[:400]
    # again into the same folder, with 1 point: its own files are replaced, round 1 matches
    assert main(["compare", *map(str, dirs), "--out", str(out), "--tolerance", "0.01"]) == 0
    data = json.loads((out / "compare.json").read_text())
    assert data["settings"][0]["max_matching_sparsity"] == 0.5 and data["settings"][0]["ticket"]["round"] == 1
    assert "minus 1 point (--tolerance = 0.01)" in data["winner_rule"]  # not the settings' 0
    assert "| prune.rewind=init | 2 (0-1) | 80.00 ± 0.00 | 1 | 50.00 |" in capsys.readouterr().out


def test_compare_refuses_a_seed_twice_and_says_at_least_for_the_last_round(tmp_path, capsys):
    first = _fake_run(tmp_path / "a", 0, "init", [0.8, 0.8, 0.8])
    again = _fake_run(tmp_path / "b", 0, "init", [0.8, 0.8, 0.8])  # the same setting and seed
    assert main(["compare", str(first), str(again), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed 0" in err and "leave one of them out" in err
    assert not (tmp_path / "o").exists()
    # smoke plans 2 rounds: a ticket at round 2 is a lower bound ("at least", shown as ≥)
    assert main(["compare", str(first), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "| 2 | ≥ 75.00 |" in out and "≥: the ticket is the last round planned" in out
    data = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert data["settings"][0]["winner"]["last_planned"] is True


def test_compare_declares_no_ticket_when_dense_is_at_chance(tmp_path, capsys):
    run_dir = _fake_run(tmp_path / "a", 0, "init", [0.34, 0.34, 0.34])
    summary = json.loads((run_dir / "summary.json").read_text())
    store.RunStore(run_dir).write_summary({**summary, "num_classes": 3})
    assert main(["compare", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "| none | - | - |" in out and "within 2 points of chance (1/3 classes" in out


def test_compare_never_replaces_a_file_it_did_not_write(tmp_path, capsys):
    run_dir = _fake_run(tmp_path / "runs", 0, "init", [0.8, 0.8])
    out = tmp_path / "mine"
    out.mkdir()
    (out / "compare.md").write_text("my notes")
    assert main(["compare", str(run_dir), "--out", str(out)]) == 2
    assert (out / "compare.md").read_text() == "my notes"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err


@pytest.mark.parametrize("case", ["missing", "not_a_run", "no_out"])
def test_compare_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    run_dir = _fake_run(tmp_path / "runs", 0, "init", [0.8, 0.8])
    args = {"missing": [str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
            "not_a_run": [str(tmp_path), "--out", str(tmp_path / "o")],
            "no_out": [str(run_dir)]}[case]
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lth-tf: error:")
    assert not (tmp_path / "o").exists()
