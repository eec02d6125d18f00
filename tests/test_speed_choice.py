"""The speed settings' choice on fake CPUs: pure (no TensorFlow), milliseconds.

lth_tf/platform/speed.py picks precision, XLA, oneDNN and threads per CPU kind and
workload from a rule table; the user's settings win, then a resumed run's record,
then `lth-tf tune`'s cached winner, then the rules. `lth-tf tune`'s candidates and
winner rule (lth_tf/frontends/cli/tune.py) are pure too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lth_tf.core import config as C
from lth_tf.core.errors import LthError
from lth_tf.platform import speed, tune_cache

ROOT = Path(__file__).resolve().parents[1]
AMX = speed.Cpu("Intel(R) Xeon(R) Processor", ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
                                                "avx_vnni", "amx_tile", "amx_bf16"), 2)
AVX512_BF16 = speed.Cpu("Some Xeon", ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"), 8)
AVX2 = speed.Cpu("AMD EPYC", ("avx2", "fma"), 2)
# The Zen 5 EPYC of 2026-12-03 (speed_avx512.json): native bfloat16 dot products, no AMX.
ZEN5 = speed.Cpu("AMD EPYC", ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni"), 2)
NOTHING = speed.Cpu()  # not Linux, or /proc/cpuinfo unreadable


def exp(preset: str = "cifar10-resnet18-cpu", *overrides: str) -> C.Experiment:
    return C.resolve(preset, overrides=list(overrides))


def chosen(e: C.Experiment, cpu: speed.Cpu, env=None, **kw) -> dict:
    return speed.choose(e.train, speed.Workload.of(e), cpu, env or {}, **kw).values()


def test_the_module_stays_free_of_tensorflow():
    code = ("import sys; from lth_tf.platform import speed, tune_cache; from lth_tf.search import run_settings; "
            "from lth_tf.frontends.cli import tune; print(int('tensorflow' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("cpu, precision", [(AMX, "mixed_bfloat16"), (AVX512_BF16, "mixed_bfloat16"),
                                            (ZEN5, "mixed_bfloat16"), (AVX2, "float32"), (NOTHING, "float32")])
def test_resnet_precision_follows_the_cpu(cpu, precision):
    got = chosen(exp(), cpu)
    assert got == {"precision": precision, "jit_compile": False, "onednn": True,
                   "intra_op_threads": 0, "inter_op_threads": 0}


@pytest.mark.parametrize("preset, overrides, precision", [
    ("cifar10-resnet18-cpu", ["model.name=conv4"], "mixed_bfloat16"),
    ("smoke", [], "float32"),  # tiny_cnn: not measured faster, so the golden transcript is the same everywhere
    ("cifar10-resnet18-cpu", ["model.name=lenet300"], "float32"),
    ("cifar10-resnet18-cpu", ["train.strategy=multi_worker"], "float32"),  # workers may differ in CPU
])
def test_precision_on_amx_depends_on_the_workload(preset, overrides, precision):
    assert chosen(exp(preset, *overrides), AMX)["precision"] == precision


def test_on_avx512_bf16_without_amx_only_the_measured_models_get_bfloat16():
    assert chosen(exp("smoke"), ZEN5)["precision"] == "float32"  # tiny_cnn: not measured
    assert chosen(exp("cifar10-resnet18-cpu", "model.name=lenet300"), ZEN5)["precision"] == "float32"
    s = speed.choose(exp().train, speed.Workload.of(exp()), ZEN5, {})
    assert "AVX512_BF16" in s.precision.reason and "speed_avx512.json" in s.precision.reason


def test_graph_data_never_gets_bfloat16_xla_or_onednn():
    for cpu in (AMX, AVX2):
        got = chosen(exp("cora-gcn"), cpu)
        assert (got["precision"], got["jit_compile"], got["onednn"]) == ("float32", False, False)


def test_every_choice_says_its_source_and_reason():
    s = speed.choose(exp().train, speed.Workload.of(exp()), AMX, {})
    for name in speed.SETTINGS:
        c = getattr(s, name)
        assert c.source == "rule" and c.reason
    assert "AMX" in s.precision.reason and "speed" in s.precision.reason  # names its measurement
    assert json.loads(json.dumps(s.to_dict())) == s.to_dict()
    assert speed.Settings.from_dict(s.to_dict()) == s


def test_a_user_setting_wins_over_rule_tune_and_record():
    e = exp("cifar10-resnet18-cpu", "train.precision=float32", "train.jit_compile=true")
    env = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "3"}
    tuned = {"values": {"precision": "mixed_bfloat16", "jit_compile": False, "onednn": True}, "measured": "x"}
    recorded = {"precision": speed.Choice("mixed_bfloat16", "rule", "amx")}
    s = speed.choose(e.train, speed.Workload.of(e), AMX, env, tuned, recorded)
    assert s.values() == {"precision": "float32", "jit_compile": True, "onednn": False,
                          "intra_op_threads": 1, "inter_op_threads": 3}
    assert {getattr(s, n).source for n in speed.SETTINGS} == {"user"}


def test_a_resumed_run_keeps_what_it_started_with_over_tune_and_rules():
    e = exp()  # auto: on this AVX2 machine the rule says float32
    recorded = speed.recorded_choices(speed.choose(e.train, speed.Workload.of(e), AMX, {}).to_dict())
    tuned = {"values": {"precision": "float32", "onednn": False}, "measured": "x"}
    s = speed.choose(e.train, speed.Workload.of(e), AVX2, {}, tuned, recorded)
    assert s.precision.value == "mixed_bfloat16" and s.precision.source == "run"
    assert s.onednn.value is True and s.onednn.source == "run"
    assert "AMX" in s.precision.reason
    again = speed.choose(e.train, speed.Workload.of(e), AVX2, {}, None, speed.recorded_choices(s.to_dict()))
    assert again.precision.reason == s.precision.reason  # not nested on every resume


def test_a_tune_winner_beats_the_rules_for_its_settings_only():
    e = exp()
    tuned = {"values": {"onednn": False}, "measured": "1.2x"}
    s = speed.choose(e.train, speed.Workload.of(e), AVX2, {}, tuned)
    assert (s.onednn.value, s.onednn.source) == (False, "tune") and "1.2x" in s.onednn.reason
    assert s.precision.source == "rule"


def test_a_damaged_record_is_refused():
    with pytest.raises(ValueError):
        speed.recorded_choices({"precision": "mixed_bfloat16"})
    with pytest.raises(ValueError):
        speed.recorded_choices({"precision": {"value": "float16", "source": "rule", "reason": "?"}})


def test_tensorflow_loaded_first_keeps_its_onednn():
    s = speed.choose(exp().train, speed.Workload.of(exp()), AMX, {})
    off = speed.in_force(s, onednn_enabled=False)
    assert (off.onednn.value, off.onednn.source) == (False, "tensorflow")
    assert speed.in_force(s, onednn_enabled=True) is s


def test_cpu_read_takes_model_flags_and_cores(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text(
        "processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16\n"
    )
    cpu = speed.Cpu.read(f)
    assert (cpu.model, cpu.flags) == ("Test CPU 9000", ("avx2", "fma", "avx512f", "avx512_bf16"))
    assert cpu.cores >= 1
    missing = speed.Cpu.read(tmp_path / "missing")
    assert (missing.model, missing.flags) == ("", ())


# -- the tune cache ---------------------------------------------------------------------------
def test_the_tune_cache_is_keyed_by_cpu_and_workload(tmp_path):
    file = tmp_path / "tune.json"
    w = speed.Workload.of(exp())
    assert tune_cache.lookup(AMX, w, file) is None
    tune_cache.store(AMX, w, {"values": {"onednn": False}, "measured": "m"}, file)
    assert tune_cache.lookup(AMX, w, file)["values"] == {"onednn": False}
    assert tune_cache.lookup(AVX2, w, file) is None  # another CPU kind
    assert tune_cache.lookup(AMX, speed.Workload.of(exp("cifar10-resnet18-cpu", "model.width=32")), file) is None
    file.write_text("{not json")
    assert tune_cache.lookup(AMX, w, file) is None  # damaged: the rules decide


def test_run_settings_use_the_users_cache(tmp_path, monkeypatch):
    from lth_tf.search import run_settings

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path))
    e = exp()
    tune_cache.store(AMX, speed.Workload.of(e), {"values": {"precision": "float32"}, "measured": "m"})
    s = run_settings.for_run(e, tmp_path / "new-run", cpu=AMX, env={})
    assert (s.precision.value, s.precision.source) == ("float32", "tune")


def test_a_run_records_its_settings_and_a_resume_reads_them(tmp_path):
    from lth_tf.search import run_settings
    from lth_tf.storage import rundir, store

    e = exp()
    run_dir = tmp_path / e.run_name()
    first = run_settings.for_run(e, run_dir, cpu=AMX, env={}, cache_file=tmp_path / "none.json")
    store.RunStore(run_dir).claim(e.to_toml(), e.hash(), runtime=first.to_dict())
    assert rundir.recorded_runtime(run_dir) == first.to_dict()
    later = run_settings.for_run(e, run_dir, cpu=AVX2, env={}, cache_file=tmp_path / "none.json")
    assert later.precision.value == "mixed_bfloat16" and later.precision.source == "run"
    rundir.runtime_path(run_dir).write_text('{"precision": 3}')
    with pytest.raises(LthError, match="runtime.json"):
        run_settings.for_run(e, run_dir, cpu=AVX2, env={})


# -- "auto" in the config and run directories from before it ---------------------------------
def test_auto_is_the_default_and_leaves_the_hash_alone():
    t = C.Train()
    assert (t.precision, t.jit_compile) == ("auto", "auto")
    assert "precision" not in C.Experiment().canonical() and "jit_compile" not in C.Experiment().canonical()
    # the hash of the smoke preset before "auto" existed (commit c43cecb): unchanged
    assert exp("smoke").hash() == "3654573b375fbe4675aa9e487e91fbda"
    explicit = exp("smoke", "train.precision=float32")
    assert explicit.hash() != exp("smoke").hash()  # the user's float32 is another run than auto
    assert exp("smoke", "train.jit_compile=auto").train.jit_compile == "auto"
    assert exp("smoke", "train.jit_compile=TRUE").train.jit_compile is True
    with pytest.raises(LthError, match="true, false or auto"):
        exp("smoke", "train.jit_compile=maybe")


def test_a_run_dir_from_before_auto_is_read_with_its_hash_and_settings(tmp_path):
    from lth_tf.search import run_settings
    from lth_tf.storage import rundir

    e = exp("smoke")
    old = e.to_toml().replace('jit_compile = "auto"', "jit_compile = false").replace(
        'precision = "auto"', 'precision = "float32"')  # what config.toml held at c43cecb
    run_dir = tmp_path / e.run_name()
    run_dir.mkdir()
    rundir.config_path(run_dir).write_text(rundir.format_hash_line(e.hash()) + old)
    assert rundir.read_experiment(run_dir).hash() == e.hash()
    rundir.check_holds(run_dir, e.hash())  # resumable: not taken for a hand-edited config
    s = run_settings.for_run(e, run_dir, cpu=AMX, env={}, cache_file=tmp_path / "none.json")
    assert (s.precision.value, s.precision.source) == ("float32", "run")
    assert (s.jit_compile.value, s.jit_compile.source) == (False, "run")


# -- lth-tf tune's candidates and winner ------------------------------------------------------
def test_tune_candidates_follow_cpu_workload_and_user():
    from lth_tf.frontends.cli import tune

    e = exp()
    amx = tune.candidates(e.train, speed.Workload.of(e), AMX, {})
    assert amx[0] == {"precision": "mixed_bfloat16", "jit_compile": False, "onednn": True}  # the rule's first
    assert len(amx) == 4 and len({json.dumps(c, sort_keys=True) for c in amx}) == 4
    assert all(c["precision"] == "float32" for c in tune.candidates(e.train, speed.Workload.of(e), AVX2, {}))
    assert len(tune.candidates(e.train, speed.Workload.of(e), AVX2, {}, emulated=True)) == 4
    assert len(tune.candidates(e.train, speed.Workload.of(e), AMX, {}, xla=True)) == 8
    fixed = tune.candidates(e.train, speed.Workload.of(e), AMX, {"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert {c["onednn"] for c in fixed} == {True} and len(fixed) == 2
    g = exp("cora-gcn")
    graph = tune.candidates(g.train, speed.Workload.of(g), AMX, {}, xla=True)
    assert graph == [{"precision": "float32", "jit_compile": False, "onednn": False},
                     {"precision": "float32", "jit_compile": False, "onednn": True}]


def test_tune_keeps_the_rule_unless_a_candidate_wins_every_round():
    from lth_tf.frontends.cli import tune

    rule = [100.0, 100.0, 100.0]
    steady = [120.0, 118.0, 125.0]  # faster in every round: wins
    lucky = [200.0, 90.0, 130.0]  # faster in the median, slower once: noise
    slight = [103.0, 102.0, 104.0]  # faster every round but under the margin
    stats = tune.paired([rule, lucky, steady, slight])
    assert tune.winner(stats) == 2
    assert stats[2]["ratio"] == pytest.approx(1.2) and stats[2]["ratio_min"] == pytest.approx(1.18)
    assert tune.winner(tune.paired([rule, lucky, slight])) == 0
    assert tune.winner(tune.paired([rule, [None, None, None]])) == 0  # a failed candidate never wins


def test_tune_table_columns_line_up_whatever_the_names():
    from lth_tf.frontends.cli import tune

    cands = [{"precision": p, "onednn": o, "jit_compile": False}
             for p, o in (("mixed_bfloat16", True), ("float32", True), ("mixed_bfloat16", False))]
    stats = tune.paired([[1245.0] * 3, [913.0, 900.0, 930.0], [37.6] * 3])
    lines = tune.format_table(cands, stats, "images", 0, {}, [1.5, 1.8, 1.7])
    # the rule's row ("* ... (rule)") is the longest name: every row's numbers start where the header's do
    column = lines[0].index("images/s") + len("images/s")
    assert all(line[column - 1] != " " and line[column] == " " for line in lines), "\n".join(lines)


def test_dense_from_needs_round_0_trained_in_the_same_precision(tmp_path):
    from lth_tf.search import dense_from
    from lth_tf.storage import rundir

    e = exp()
    source = tmp_path / "source"
    source.mkdir()
    chosen_there = speed.choose(e.train, speed.Workload.of(e), AMX, {})  # mixed_bfloat16 on AMX
    rundir.runtime_path(source).write_text(json.dumps(chosen_there.to_dict()))
    here = speed.choose(e.train, speed.Workload.of(e), AVX2, {}).values()  # float32 on AVX2
    assert dense_from.speed_differences(here, source) == [("train.precision", "float32", "mixed_bfloat16")]
    assert dense_from.speed_differences(chosen_there.values(), source) == []
    assert dense_from.speed_differences(None, source) == []


# -- the command ------------------------------------------------------------------------------
def test_tune_errors_are_one_line_and_exit_2(capsys):
    from lth_tf.frontends.cli.main import main

    assert main(["tune"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--preset" in err
    assert main(["tune", "--preset", "smoke", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err
    assert main(["tune", "--preset", "smoke", "--data-dir", "/nonexistent/lth"]) == 2


def test_tune_show_says_what_a_run_would_use_and_why(capsys, tmp_path, monkeypatch):
    from lth_tf.frontends.cli.main import main

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path))
    assert main(["tune", "--preset", "cora-gcn", "--show"]) == 0
    out = capsys.readouterr().out
    assert "precision         float32" in out and "rule  graph data" in out
    assert "onednn            False" in out and "* onednn" in out  # the rule that applies is marked


@pytest.mark.slow
def test_tune_measures_stores_and_a_later_run_uses_the_winner(tmp_path):
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "LTH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    out = subprocess.run([sys.executable, "-m", "lth_tf", "tune", "--preset", "smoke", "--seconds", "5"],
                         env=env, capture_output=True, text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stderr
    assert "(rule)" in out.stdout and "winner:" in out.stdout and "stored in" in out.stdout
    entry = tune_cache.lookup(speed.Cpu.read(), speed.Workload.of(exp("smoke")), tmp_path / "cache" / "tune.json")
    assert set(entry["values"]) == {"precision", "jit_compile", "onednn"} and len(entry["table"]) >= 2
    from lth_tf.search import run_settings

    later = run_settings.for_run(exp("smoke"), tmp_path / "run", env={}, cache_file=tmp_path / "cache" / "tune.json")
    assert later.precision.source == later.onednn.source == "tune"
