"""Fuzz: what a user hands the Python API and the sweep/compare commands (issue 28).

Hypothesis draws the arrays given to `TicketSearch.fit` (shapes, dtypes, NaN/inf,
labels of every wrong kind) and the arguments of `lth-tf sweep` and `lth-tf
compare` (seeds, grids, jobs, CPUs, Ray addresses, paths of every kind). Every
outcome must be a correct result or one LthError line (argparse's own usage
error for a flag it cannot parse): never another exception, a hang, or a file
written for a refused command. Outcomes are tallied with the other fuzz tests'.
Nothing trains: the API cases stop before training, the sweep cases at its plan.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers.fuzz import FAST, dump_outcomes, one_line_error, record
from helpers.models import functional_mlp
from hypothesis import given, settings
from hypothesis import strategies as st

from lth_tf.core.errors import LthError
from lth_tf.frontends.cli import main as cli
from lth_tf.frontends.sweep import command as sweep_command
from lth_tf.keras_side import models
from lth_tf.keras_side.data.user import UserData, as_data, check_labels

OUTPUTS = 4  # functional_mlp: 12 inputs, 4 logits


@pytest.fixture(scope="module", autouse=True)
def tally():
    yield
    print("\nfuzz outcomes (ok = accepted, error = one-line LthError, usage = argparse):", dump_outcomes())


# -- the Python API's data -------------------------------------------------------------------------
@st.composite
def split(draw, name: str):
    n = draw(st.integers(0, 24))
    dims = draw(st.sampled_from([(12,), (12,), (12,), (3, 4), (11,), ()]))
    dtype = draw(st.sampled_from(["float32", "float32", "float64", "int64", "bool", "float16", "object", "U3"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.normal(size=(n, *dims))
    bad = draw(st.sampled_from(["none", "none", "nan", "inf", "-inf", "column"]))
    if bad != "none" and x.size:
        if bad == "column" and x.ndim == 2:
            x[:, draw(st.integers(0, x.shape[1] - 1))] = np.inf
        else:
            x.flat[draw(st.integers(0, x.size - 1))] = {"nan": np.nan, "inf": np.inf}.get(bad, -np.inf)
    with np.errstate(invalid="ignore"):  # NaN/inf cast to an integer dtype: whatever numpy makes
        x = x.astype(dtype)
    labels = draw(st.sampled_from(["ok", "ok", "ok", "few", "many", "negative", "float", "onehot", "column",
                                   "length", "strings"]))  # fmt: skip
    y = rng.integers(0, OUTPUTS, n)
    if labels == "few":
        y = y % 2
    elif labels == "many":
        y = y + (draw(st.integers(1, 5)) if n else 0)
    elif labels == "negative" and n:
        y[0] = -1
    elif labels == "float":
        y = y.astype(np.float32)
    elif labels == "onehot":
        y = np.eye(OUTPUTS)[y]
    elif labels == "column":
        y = y[:, None]
    elif labels == "length":
        y = y[: max(0, n - 1)]
    elif labels == "strings":
        y = y.astype(str)
    return x, y


def accepted(data: UserData) -> None:
    """What passing the checks promises: finite float32 inputs, labels 0..OUTPUTS-1, one count."""
    for s in (data.train, data.val, data.test):
        x, y = s
        assert x.dtype == np.float32 and np.isfinite(x).all() and len(x) == len(y) > 0
        assert y.dtype == np.int64 and y.ndim == 1 and y.min() >= 0 and y.max() < OUTPUTS
    assert data.num_classes == OUTPUTS


@settings(FAST, max_examples=150)
@given(train=split("train"), val=split("validation"), test=split("test"))
def test_python_api_data_is_accepted_whole_or_refused_in_one_line(train, val, test):
    try:
        data = as_data(train, val, test)
        check_labels(data, OUTPUTS, "model 'user_mlp'")
        models.from_keras(functional_mlp())(tuple(data.input_shape), int(data.num_classes), 0)
    except LthError as e:
        one_line_error(str(e), "train", "validation", "test", "labels", "user_mlp", "input")
        record("api data", "error")
        return
    accepted(data)
    record("api data", "ok")


# -- sweep arguments --------------------------------------------------------------------------------
TEXT = st.text(alphabet="0123456789-,.:=xe ", max_size=8)
SEEDS = st.one_of(st.sampled_from(["0", "0-2", "0", "1,3", "3-1", "-1", "0,0", "", ",", "99999999999999999999",
                                   "4294967295", "0-99999", "1e3"]), TEXT)  # fmt: skip
GRIDS = st.lists(st.one_of(st.sampled_from(["prune.rate=0.1,0.2", "prune.rate=2,0.1", "prune.rewind=init,init",
                                            "=1", "seed=1,2", "nope", "prune.nope=1", "train.epochs=1,100000000",
                                            "train.strategy=mirrored:9999", "prune.rounds=1,-1"]),
                           TEXT.map(lambda t: f"prune.rate={t}")), max_size=3)  # fmt: skip
JOBS = st.sampled_from(["1", "1", "1", "2", "0", "-1", "x", "1.5", "99999999999999999999"])
CPUS = st.sampled_from(["1", "1", "1", "0.5", "0", "-1", "nan", "inf", "-inf", "1e308", "x", "3"])
RAY = st.sampled_from([None, "local", "127.0.0.1:1", "host:", ":1", "localhost:99999", "[::1]:1", "x"])


@settings(FAST, max_examples=120)
@given(seeds=SEEDS, grid=GRIDS, jobs=JOBS, cpus=CPUS, ray=RAY)
def test_sweep_arguments_plan_or_refuse_in_one_line(tmp_path_factory, seeds, grid, jobs, cpus, ray):
    out = tmp_path_factory.mktemp("sweep") / "sw"
    argv = ["sweep", "--preset", "smoke", "--seeds", seeds, "--jobs", jobs, "--cpus-per-cell", cpus,
            "--out", str(out), *[a for g in grid for a in ("--grid", g)], *(["--ray", ray] if ray else [])]  # fmt: skip
    try:
        args = cli.build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code == 2
        record("sweep args", "usage")
        return
    try:
        _base, _axes, seed_list, planned = sweep_command.plan(args)
    except LthError as e:
        one_line_error(str(e), "--", "seed", "cell", "grid", "prune", "train", "sweep", "Ray")
        record("sweep args", "error")
    else:
        assert planned and all(0 <= s <= 2**32 - 1 for s in seed_list)
        assert args.jobs >= 1 and 0 < args.cpus_per_cell < float("inf")
        record("sweep args", "ok")
    assert not out.exists()  # planning writes nothing


# -- compare arguments ------------------------------------------------------------------------------
KINDS = ["run", "missing", "file", "empty dir", "fifo", "broken link", "sweep fifo", "sweep damaged", "sweep dir"]
OUTS = ["new", "file", "fifo json", "foreign md", "linked md", None]


def make(kind: str, root: Path, run: Path) -> Path:
    p = root / kind.replace(" ", "_")
    if kind == "run":
        return run
    if kind == "file":
        p.write_text("x")
    elif kind == "empty dir":
        p.mkdir()
    elif kind == "fifo":
        os.mkfifo(p)
    elif kind == "broken link":
        p.symlink_to(root / "gone")
    elif kind.startswith("sweep"):
        p.mkdir()
        if kind == "sweep fifo":
            os.mkfifo(p / "sweep.json")
        elif kind == "sweep damaged":
            (p / "sweep.json").write_text('{"kind": "lth-tf sweep", "cells": [{"run_dir": 3}]')
        else:
            (p / "sweep.json").write_text('{"kind": "lth-tf sweep", "cells": []}')
    return p


def make_out(kind: str | None, root: Path) -> list[str]:
    if kind is None:
        return []
    out = root / "cmp"
    if kind == "file":
        out.write_text("x")
    elif kind != "new":
        out.mkdir()
        if kind == "fifo json":
            os.mkfifo(out / "compare.json")
        elif kind == "foreign md":
            (out / "compare.md").write_text("mine")
        elif kind == "linked md":
            (root / "mine.md").write_text("mine")
            (out / "compare.md").symlink_to(root / "mine.md")
    return ["--out", str(out)]


@settings(FAST, max_examples=40)
@given(kinds=st.lists(st.sampled_from(["run"] * 6 + KINDS), min_size=1, max_size=3),
       out=st.sampled_from(["new"] * 3 + OUTS))
def test_compare_arguments_compare_or_refuse_in_one_line(smoke_run_session, tmp_path_factory, capsys, kinds, out):
    root = tmp_path_factory.mktemp("cmp")
    paths = [str(make(k, root, smoke_run_session)) for k in dict.fromkeys(kinds)]
    before = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    code = cli.main(["compare", *paths, *make_out(out, root)])
    err = capsys.readouterr().err
    if code == 0:
        record("compare args", "ok")
        assert (root / "cmp" / "compare.json").is_file()
    else:
        assert code == 2, err
        lines = [line for line in err.splitlines() if not line.startswith("left out ")]
        assert len(lines) == 1 and lines[0].startswith("lth-tf: error: "), err
        record("compare args", "error")
    if (root / "mine.md").exists():
        assert (root / "mine.md").read_text() == "mine"  # never written through the link
    after = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    assert {k: v for k, v in after.items() if k in before} == before  # nothing of the user's changed
