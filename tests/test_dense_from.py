"""`lth-tf run --dense-from RUN_DIR`: round 0 copied from another run instead of trained.

Four smoke runs of one seed, in-process, shared by the module: the source (prune.rate
0.5), a run with prune.rate 0.3 trained from scratch, the same run with --dense-from
the source, and that run again interrupted right after its copied round 0 and
resumed with the same command. Round 0 is deterministic given the seed (checked
first), so the copied runs must equal the one trained from scratch bit for bit.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import tree
from helpers.models import functional_mlp, splits
from helpers.resume import smoke_args
from helpers.tui import replay

import lth_tf
from lth_tf.core import config as C
from lth_tf.core import cost
from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.sweep import runner
from lth_tf.search import dense_from
from lth_tf.search.lottery import LotterySearch
from lth_tf.storage import rundir, store

pytestmark = pytest.mark.slow  # four smoke searches through cli.main, and TicketSearch runs

ROUNDS, EPOCHS = 2, 1
ARGS = smoke_args(ROUNDS, EPOCHS, "prune.controls=")
OTHER_RATE = ["--set", "prune.rate=0.3"]  # a later-rounds setting the source does not share


def run(out: Path, *extra: str) -> Path:
    assert cli.main([*ARGS, "--out", str(out), "--no-export", *extra]) == 0
    (run_dir,) = out.iterdir()
    return run_dir


def experiment(*extra: str) -> C.Experiment:
    sets = [s for flag, s in itertools.pairwise(ARGS) if flag == "--set"] + [s for s in extra if s != "--set"]
    return C.resolve("smoke", None, [*sets, f"prune.rounds={ROUNDS}", "seed=3"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dense")
    source = run(tmp / "source")
    before = tree(source)
    scratch = run(tmp / "scratch", *OTHER_RATE)
    reused = run(tmp / "reused", *OTHER_RATE, "--dense-from", str(source))
    # Interrupted after the copied round 0 (the generator closed), then the same command again.
    search = LotterySearch(experiment(*OTHER_RATE), out=tmp / "resumed",
                           dense_from=dense_from.check(experiment(*OTHER_RATE), source))
    rounds = search.rounds()
    assert next(rounds).round == 0
    rounds.close()
    assert rundir.completed_rounds(search.run_dir) == [0]
    resumed = run(tmp / "resumed", *OTHER_RATE, "--dense-from", str(source))
    return {"source": source, "before": before, "scratch": scratch, "reused": reused,
            "resumed": resumed, "tmp": tmp}


def stored(run_dir: Path, r: int):
    return store.RunStore(run_dir).load_round(r)


def assert_same_round(a: Path, b: Path, r: int) -> None:
    (wa, ma, xa), (wb, mb, xb) = stored(a, r), stored(b, r)
    assert len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert ma.keys() == mb.keys() and all(np.array_equal(ma[k], mb[k]) for k in ma)
    for key in ("sparsity", "val_acc", "test_acc", "layer_sparsity", "best_epoch"):
        assert xa[key] == xb[key], key


def test_round_0_is_deterministic_given_the_seed(runs):
    assert_same_round(runs["source"], runs["scratch"], 0)


@pytest.mark.parametrize("which", ["reused", "resumed"])
def test_a_reused_round_0_gives_the_rounds_of_a_run_trained_from_scratch(runs, which):
    got, want = runs[which], runs["scratch"]
    assert got.name == want.name  # --dense-from is not part of the config: same run name
    assert rundir.completed_rounds(got) == list(range(ROUNDS + 1))
    for r in range(ROUNDS + 1):
        assert_same_round(got, want, r)
    a, b = store.RunStore(got).load_rewind(), store.RunStore(want).load_rewind()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # The winner rule's whole decision (the 1-epoch smoke net may sit at chance: then no ticket, same reason).
    assert store.RunStore(got).read_summary()["winner"] == store.RunStore(want).read_summary()["winner"]


def test_the_source_run_is_byte_identical_afterwards(runs):
    assert tree(runs["source"]) == runs["before"]


def test_round_0_records_its_source_and_keeps_its_cost_in_the_summary(runs):
    source, reused = runs["source"], runs["reused"]
    m0 = rundir.round_metrics(reused, 0)
    assert m0["reused_from"] == {"run_dir": str(source.resolve()), "config_hash": rundir.stored_hash(source)}
    assert "reused_from" not in rundir.round_metrics(runs["scratch"], 0)
    src_cost = rundir.round_metrics(source, 0)["cost"]
    assert m0["cost"] == src_cost and src_cost["train_flops"] > 0
    summary = store.RunStore(reused).read_summary()
    costs = [rundir.round_metrics(reused, r)["cost"] for r in range(ROUNDS + 1)]
    for r, row in enumerate(summary["rounds"]):
        for k in cost.ADDITIVE:  # rounds 0..r, round 0 included although it was not trained here
            assert row["cumulative_cost"][k] == pytest.approx(sum(c[k] for c in costs[: r + 1]))
    ticket = summary["ticket"]  # None when the 1-epoch dense net sits at chance (the winner rule)
    if ticket is not None:
        assert ticket["cumulative_cost"] == summary["rounds"][ticket["round"]]["cumulative_cost"]


def test_events_report_and_tui_read_a_run_whose_round_0_was_copied(runs, capsys):
    reused = runs["reused"]
    events = list(rundir.read_events(reused))
    epochs = {e["round"] for e in events if e["event"] == "epoch_end"}
    assert epochs == set(range(1, ROUNDS + 1))  # round 0 was not trained here
    started = [e["round"] for e in events if e["event"] == "round_started"]
    assert started == list(range(1, ROUNDS + 1))
    (r0,) = [e for e in events if e["event"] == "round_finished" and e["round"] == 0]
    assert r0["reused_from"]["run_dir"] == str(runs["source"].resolve())
    assert cli.main(["report", str(reused)]) == 0
    assert f"copied from {runs['source'].resolve()}" in rundir.report_path(reused).read_text()
    screen = asyncio.run(replay(reused))
    assert screen.state.rounds[0].history == {}


# -- refusals: one line, exit 2, nothing written ------------------------------------------------
def refusal_cases(tmp: Path, source: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    no_round0 = tmp / "killed-in-round-0"
    if not no_round0.exists():  # a run stopped in round 0: config.toml, no round folder
        no_round0.mkdir()
        shutil.copy(rundir.config_path(source), rundir.config_path(no_round0))
    empty = tmp / "not-a-run"
    empty.mkdir(exist_ok=True)
    return {
        "other_epochs": (["--set", "train.epochs=2", "--dense-from", str(source)], ("train.epochs", "2", "1")),
        "other_width": (["--set", "model.width=4", "--dense-from", str(source)], ("model.width", "4", "8")),
        "other_snapshot": (["--set", "prune.rewind=step:1", "--dense-from", str(source)], ("prune.rewind", "step:1")),
        "missing": (["--dense-from", str(tmp / "nope")], ("--dense-from", "not found")),
        "not_a_run": (["--dense-from", str(empty)], ("--dense-from", "not a run directory")),
        "no_round_0": (["--dense-from", str(no_round0)], ("--dense-from", "no completed round 0")),
    }


@pytest.mark.parametrize("case", ["other_epochs", "other_width", "other_snapshot", "missing", "not_a_run", "no_round_0"])
def test_a_bad_source_is_one_line_exit_2_and_writes_nothing(runs, case, capsys, tmp_path):
    extra, words = refusal_cases(runs["tmp"], runs["source"])[case]
    out = tmp_path / "out"
    capsys.readouterr()
    assert cli.main([*ARGS, "--out", str(out), *OTHER_RATE, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)
    assert not out.exists()
    assert tree(runs["source"]) == runs["before"]


def test_sweep_checks_every_cell_against_the_source_first(runs, capsys, tmp_path):
    out = tmp_path / "sweep"
    code = cli.main(["sweep", "--preset", "smoke", "--seeds", "3", "--set", f"prune.rounds={ROUNDS}",
                     "--set", f"train.epochs={EPOCHS}", "--grid", "train.epochs=1,2",
                     "--dense-from", str(runs["source"]), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "train.epochs" in err and err.count("\n") == 1
    assert not out.exists()
    entry = {"overrides": ["prune.rate=0.3"]}
    command = runner.cell_command({"preset": "smoke"}, entry, out, False, str(runs["source"]))
    assert command[command.index("--dense-from") + 1] == str(runs["source"].resolve())


def test_every_free_key_is_a_setting_and_rewinds_without_a_snapshot_may_differ(runs):
    assert set(dense_from.ROUND0_FREE) <= set(dense_from.settings(experiment()))
    for rewind in ("lr", "finetune"):
        src = dense_from.check(experiment("prune.rewind=" + rewind), runs["source"])
        assert not src.copy_rewind
    assert dense_from.check(experiment("prune.one_shot=true", "prune.structure=channels"), runs["source"]).copy_rewind


# -- the Python API ---------------------------------------------------------------------------
def test_ticket_search_takes_round_0_from_a_run_of_the_same_model_and_data(tmp_path):
    train, val, test = splits()
    settings = {"rounds": 1, "epochs": 1, "batch_size": 32}
    source = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "a", rate=0.5, **settings)
    source.fit(train, validation_data=val, test_data=test, export=False)
    reuse = lth_tf.TicketSearch(functional_mlp(), directory=tmp_path / "b", rate=0.3,
                                dense_from=source.run_dir, **settings)
    reuse.fit(train, validation_data=val, test_data=test, export=False)
    assert_same_round(reuse.run_dir, source.run_dir, 0)
    assert rundir.round_metrics(reuse.run_dir, 0)["reused_from"]["run_dir"] == str(source.run_dir.resolve())
    other = lth_tf.TicketSearch(functional_mlp(seed=1), directory=tmp_path / "c", rate=0.3,
                                dense_from=source.run_dir, **settings)
    with pytest.raises(LthError, match="another model or data"):
        other.fit(train, validation_data=val, test_data=test, export=False)
    assert not (tmp_path / "c").exists()
