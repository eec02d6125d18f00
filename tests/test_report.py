"""`lth-tf report` on run directories written by the store (no training, no TensorFlow):
the winner rule and why there is no ticket, the settings, the ticket beside the controls,
the examples per class, and the figure as PNG and SVG."""

from __future__ import annotations

import json

from lth_tf.core import config as C
from lth_tf.core import events as E
from lth_tf.frontends.cli.main import main
from lth_tf.storage import rundir, store
from lth_tf.storage.summary import build_summary, pick_winner

SIZES = {"classes": ["cat", "dog", "owl"], "unit": "images", "train": [648, 324, 6],
         "val": [72, 36, 0], "test": [180, 90, 2]}


def fake_run(root, vals, tests, *, classes=3, overrides=(), controls=(), finished=True):
    """A run dir of the smoke preset (2 rounds planned) holding these accuracies."""
    exp = C.resolve("smoke", overrides=list(overrides))
    run_dir = root / exp.run_name()
    rs = store.RunStore(run_dir)
    rs.claim(exp.to_toml(), exp.hash())
    rounds = [{"round": r, "sparsity": 1 - 0.5**r, "val_acc": v, "test_acc": t}
              for r, (v, t) in enumerate(zip(vals, tests))]
    control_rows = [{"kind": k, "round": r, "sparsity": 1 - 0.5**r, "val_acc": a, "test_acc": a}
                    for k, r, a in controls]
    decision = pick_winner(rounds, exp.prune.tolerance, classes, exp.planned_rounds)
    ticket = None
    if finished and decision.round is not None:
        chosen = rounds[decision.round]
        ticket = {"round": chosen["round"], "sparsity": chosen["sparsity"], "test_acc": chosen["test_acc"],
                  "path": None}
    rs.write_summary(build_summary(exp.hash(), exp.preset, "finished" if finished else "running", rounds,
                                   control_rows, ticket, winner=decision, num_classes=classes))
    sink = E.JsonlSink(rundir.events_path(run_dir))
    sink(E.RunStarted(run_dir=str(run_dir), config_hash=exp.hash(), preset=exp.preset,
                      rounds=exp.planned_rounds, resumed_from=None, model=exp.model.name,
                      dataset=exp.data.name, config=exp.to_dict(), num_classes=classes,
                      split_sizes=SIZES, data_warnings=["class 'owl' has only 6 training images"]).to_dict())
    return run_dir


def report(run_dir, capsys) -> list[str]:
    assert main(["report", str(run_dir)]) == 0
    return capsys.readouterr().out.splitlines()


def test_the_report_states_the_rule_the_settings_and_the_ticket_beside_its_controls(tmp_path, capsys):
    run_dir = fake_run(tmp_path, [0.80, 0.81, 0.79], [0.78, 0.79, 0.77],
                       controls=[("random_reinit", 1, 0.70), ("random_mask", 1, 0.65),
                                 ("random_reinit", 2, 0.60)],
                       overrides=["prune.rewind=lr", "distill.enabled=true"])
    lines = report(run_dir, capsys)
    settings = next(x for x in lines if x.startswith("settings: "))
    for part in ("tiny_cnn on synthetic_images", "rewind lr", "50% of the remaining weights per round",
                 "2 rounds", "2 epochs per round", "KD on (alpha 0.5, temperature 2.0)"):
        assert part in settings, settings
    rule = next(x for x in lines if x.startswith("winner rule: "))
    assert "sparsest pruned round" in rule and "prune.tolerance = 0" in rule and "chance" in rule
    assert any(x.startswith("winning ticket: round 1, sparsity 50.00%") for x in lines)
    # the ticket beside the controls of its own round, then the other control round
    head = lines.index("| round | sparsity % | lottery round test % | random mask test % | "
                       "random reinit test % |")
    assert lines[head + 2] == "| 1 ★ ticket | 50.00 | 79.00 | 65.00 | 70.00 |"
    assert lines[head + 3] == "| 2 | 75.00 | 77.00 |  | 60.00 |"
    # examples per class in each split, and the small-class warning
    assert "| owl | 6 | 0 | 2 |" in lines and "| all | 978 | 108 | 272 |" in lines
    assert "data warning: class 'owl' has only 6 training images" in lines
    assert (run_dir / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (run_dir / "accuracy.svg").read_bytes()[:400]


def test_a_ticket_without_controls_is_a_table_of_three_columns(tmp_path, capsys):
    """The guide's py: run (no controls) printed '| round | sparsity % | lottery round test % |  |'
    over a three-column separator: the empty list of controls left a fourth, empty cell."""
    lines = report(fake_run(tmp_path, [0.80, 0.81, 0.79], [0.78, 0.79, 0.77]), capsys)
    head = lines.index("| round | sparsity % | lottery round test % |")
    assert lines[head + 1] == "|---:|---:|---:|"
    assert lines[head + 2] == "| 1 ★ ticket | 50.00 | 79.00 |"


def test_a_run_of_no_preset_says_none_not_python_none(tmp_path, capsys):
    """The guide's file: and py: runs (no --preset) printed 'preset: None'."""
    run_dir = fake_run(tmp_path, [0.8, 0.8, 0.8], [0.8, 0.8, 0.8])
    path = rundir.summary_path(run_dir)
    path.write_text(json.dumps({**json.loads(path.read_text()), "preset": None}))
    lines = report(run_dir, capsys)
    assert any(x.startswith("status: finished, preset: none, config hash: ") for x in lines), lines[:4]


def test_no_ticket_at_chance_and_the_report_says_why(tmp_path, capsys):
    """The issue's MobileNetV2, at 33.3% on 3 classes in every round."""
    run_dir = fake_run(tmp_path, [1 / 3] * 3, [1 / 3] * 3)
    lines = report(run_dir, capsys)
    (line,) = [x for x in lines if x.startswith("winning ticket:")]
    assert line.startswith("winning ticket: none (dense validation accuracy 33.33% is within 2 points "
                           "of chance (1/3 classes = 33.33%)")


def test_the_ticket_at_the_last_round_planned_is_a_lower_bound(tmp_path, capsys):
    lines = report(fake_run(tmp_path, [0.8, 0.8, 0.8], [0.8, 0.8, 0.8]), capsys)
    (line,) = [x for x in lines if x.startswith("winning ticket:")]
    assert line.endswith("the last round planned: sparser tickets may match too")


def test_a_running_run_shows_its_ticket_so_far(tmp_path, capsys):
    lines = report(fake_run(tmp_path, [0.8, 0.81], [0.8, 0.8], finished=False), capsys)
    assert "ticket so far (the run is running): round 1, sparsity 50.00%" in lines


def test_the_settings_line_counts_in_the_singular_too():
    from lth_tf.frontends.report import settings_line

    config = C.resolve("smoke", overrides=["train.epochs=1", "prune.rounds=1"]).to_dict()
    line = settings_line(config)
    assert "1 round, 1 epoch per round" in line and "epochs" not in line
