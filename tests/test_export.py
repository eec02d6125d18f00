"""`lth-tf export`: a SavedModel that loads and predicts without lth_tf.

For the tiny CNN (smoke) and the GCN (Spektral layers, sparse inputs), round 2
(75% sparse) and round 0 (dense) are exported through the CLI. A fresh Python
process that never imports lth_tf (nor Spektral, nor tfmot) loads each with
plain `tf.saved_model.load` and with `tf_keras.models.load_model`; both must
predict what the stripped model predicts in this process, and every pruned
kernel entry must be exactly 0.0 in the loaded model.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lth_tf.export import gzip_size
from lth_tf.frontends.cli import main as cli
from lth_tf.storage import rundir, store

pytestmark = pytest.mark.slow  # two searches, exports loaded in a fresh process

# tolerance 1.0: the sparsest round (2) is the winning ticket, exported by `run` itself.
RUNS = {
    "cnn": [
        "--preset",
        "smoke",
        "--set",
        "train.epochs=1",
        "--set",
        "prune.tolerance=1.0",
        "--set",
        "prune.controls=",
    ],
    "gcn": [
        "--preset",
        "smoke",
        "--set",
        "data.name=synthetic_graph",
        "--set",
        "model.name=gcn",
        "--set",
        "train.epochs=3",
        "--set",
        "prune.tolerance=1.0",
        "--set",
        "prune.controls=",
    ],
}

# Runs in a fresh interpreter: no lth_tf on the path, TF_USE_LEGACY_KERAS=1 for tf_keras.
LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tf_keras

    def load(path, inputs_file, out_file):
        z = np.load(inputs_file)
        if "image" in z.files:
            args = [tf.constant(z["image"])]
            feeds = {"image": args[0]}
        else:
            def sparse(p):
                return tf.SparseTensor(z[p + "_indices"], z[p + "_values"], z[p + "_dense_shape"])
            args = [[sparse("x"), sparse("a")]]
            feeds = {f"{p}_{k}": tf.constant(z[f"{p}_{k}"])
                     for p in ("x", "a") for k in ("indices", "values", "dense_shape")}
        out = {}

        plain = tf.saved_model.load(path)
        out["saved_model"] = plain(*args, training=False).numpy()
        # images: the float signature (serving_default takes raw uint8, test_export_serving)
        name = "serving_normalized" if "image" in z.files else "serving_default"
        out["signature"] = plain.signatures[name](**feeds)["logits"].numpy()
        for v in plain.variables:
            out["sm:" + v.name] = v.numpy()

        model = tf_keras.models.load_model(path, compile=False)
        out["keras"] = model(*args, training=False).numpy()
        for w in model.weights:
            out["keras:" + w.name] = w.numpy()
        np.savez(out_file, **out)
        return [type(layer).__name__ for layer in model.layers]

    layers = [load(*job) for job in json.loads(sys.argv[1])]
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("lth_tf", "spektral", "tensorflow_model_optimization"))
    print(json.dumps({"leaked": leaked, "layers": layers}))
    """
)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Per model: the run dir, where rounds 2 and 0 go, their reference outputs and masks."""
    tmp = tmp_path_factory.mktemp("export")
    result = {}
    for kind, args in RUNS.items():
        out = tmp / kind
        assert cli.main(["run", *args, "--out", str(out), "--quiet"]) == 0
        (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
        # after cli.main, which imports TensorFlow with its start-up chatter filtered
        from lth_tf.keras_side import pruning as P
        from lth_tf.search.lottery import LotterySearch

        search = LotterySearch.open(run_dir)
        inputs = _inputs(search.data)
        entry = {"run_dir": run_dir, "inputs": tmp / f"{kind}-inputs.npz", "rounds": {}}
        np.savez(entry["inputs"], **inputs)
        for r in (2, 0):
            stripped = P.strip(search.model_for_round(r))
            args_ = _model_args(inputs)
            reference = stripped(args_, training=False).numpy()
            path = tmp / f"{kind}-round{r}"
            entry["rounds"][r] = {
                "path": path,
                "reference": reference,
                "masks": store.RunStore(run_dir).load_round(r)[1],
            }
        result[kind] = entry
    return result


def _inputs(data) -> dict[str, np.ndarray]:
    if data.kind == "image":
        images, _ = next(iter(data.eval_dataset("test", 64)))
        return {"image": images.numpy()}
    x, a = data.inputs()
    out = {}
    for name, t in (("x", x), ("a", a)):
        out[f"{name}_indices"] = t.indices.numpy()
        out[f"{name}_values"] = t.values.numpy()
        out[f"{name}_dense_shape"] = t.dense_shape.numpy()
    return out


def _model_args(inputs):
    from lth_tf.platform.backend import tf

    if "image" in inputs:
        return tf.constant(inputs["image"])
    return [
        tf.SparseTensor(inputs[f"{p}_indices"], inputs[f"{p}_values"], inputs[f"{p}_dense_shape"])
        for p in ("x", "a")
    ]


@pytest.fixture(scope="module")
def cli_exports(exports):
    """`lth-tf export` of rounds 2 and 0 for both models: (stdout, stderr) per export."""
    printed = {}
    for kind, entry in exports.items():
        for r, rnd in entry["rounds"].items():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = cli.main(
                    ["export", str(entry["run_dir"]), "--round", str(r), "--out", str(rnd["path"])]
                )
            assert code == 0, err.getvalue()
            printed[kind, r] = (out.getvalue(), err.getvalue())
    return printed


@pytest.fixture(scope="module")
def loaded(exports, cli_exports, tmp_path_factory):
    """Each export loaded in a fresh process without lth_tf: outputs and weights."""
    tmp = tmp_path_factory.mktemp("loaded")
    script = tmp / "load.py"
    script.write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    keys = [(kind, r) for kind, entry in exports.items() for r in entry["rounds"]]
    jobs = [
        [str(exports[k]["rounds"][r]["path"]), str(exports[k]["inputs"]), str(tmp / f"{k}-{r}.npz")]
        for k, r in keys
    ]
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    result = {}
    for key, job, layers in zip(keys, jobs, info["layers"]):
        with np.load(job[2]) as z:
            result[key] = {"leaked": info["leaked"], "layers": layers, **{k: z[k] for k in z.files}}
    return result


CASES = [("cnn", 2), ("cnn", 0), ("gcn", 2), ("gcn", 0)]


@pytest.mark.parametrize("kind,r", CASES)
def test_loads_without_lth_tf_and_predicts_the_same(exports, loaded, kind, r):
    got = loaded[kind, r]
    assert got["leaked"] == []
    reference = exports[kind]["rounds"][r]["reference"]
    for how in ("saved_model", "signature", "keras"):
        assert got[how].shape == reference.shape
        np.testing.assert_allclose(got[how], reference, atol=1e-5, rtol=0, err_msg=how)


@pytest.mark.parametrize("kind,r", CASES)
def test_pruned_kernels_are_exactly_zero_in_the_loaded_model(exports, loaded, kind, r):
    got = loaded[kind, r]
    masks = exports[kind]["rounds"][r]["masks"]
    assert masks, "no prunable layers?"
    for name, mask in masks.items():
        for prefix in ("sm:", "keras:"):
            kernel = got[f"{prefix}{name}/kernel:0"]
            assert kernel.shape == mask.shape
            assert np.all(kernel[mask == 0] == 0.0), f"{prefix}{name}: pruned entries not 0"
            assert np.count_nonzero(kernel) == np.count_nonzero(mask), f"{prefix}{name}"
    total = sum(m.size for m in masks.values())
    zeros = sum(int((m == 0).sum()) for m in masks.values())
    assert zeros / total == pytest.approx(0.75 if r == 2 else 0.0)


def test_no_pruning_wrappers_in_the_export(loaded):
    for (kind, _), got in loaded.items():
        layers = got["layers"]
        assert not any("Prune" in name for name in layers), layers
        assert not any(k.startswith(("sm:", "keras:")) and "mask" in k for k in got), kind
        if kind == "gcn":
            assert "GCNConv" in layers  # revived from the SavedModel, Spektral not imported


def test_export_prints_the_path_and_dense_vs_ticket_sizes(exports, cli_exports):
    for kind, entry in exports.items():
        out, err = cli_exports[kind, 2]
        path = entry["rounds"][2]["path"]
        assert out == f"{path}\n"
        lines = err.splitlines()
        assert lines[0] == f"exported round 2 (75.00% sparse) of {entry['run_dir']}"
        assert lines[1].startswith("dense:") and lines[2].startswith("ticket:")
        for line in lines[1:3]:
            assert " MB raw, " in line and " MB gzip; weights " in line
        assert "gzip of the ticket is" in lines[3]
        # what it costs and how fast it ran here (tests/test_export_marker.py checks the figures)
        runs = "whole graph (" if kind == "gcn" else "b1 "
        assert lines[4].startswith("cost:") and " MACs per " in lines[4] and f"latency {runs}" in lines[4]
        # then how to call it: the signatures, and a tf.saved_model.load snippet
        expected = "serving_dense" if kind == "gcn" else "serving_normalized"
        assert lines[5].startswith("call it (signatures: serving_default") and expected in lines[5]
        assert lines[7].strip() == f'm = tf.saved_model.load("{path}")'
        out0, err0 = cli_exports[kind, 0]
        assert out0 == f"{entry['rounds'][0]['path']}\n"
        assert err0.splitlines()[1].startswith("dense:")
        # 75% zeros: the ticket's weights pack smaller than the dense model's
        ticket_w = gzip_size(path / "variables")
        dense_w = gzip_size(entry["rounds"][0]["path"] / "variables")
        assert ticket_w < dense_w
        print(f"{kind}: {err.strip()}")


def test_export_replaces_only_an_older_export(exports, tmp_path, capsys):
    entry = exports["cnn"]
    target = tmp_path / "t"
    for r in (0, 2):  # the second export replaces the first
        assert (
            cli.main(["export", str(entry["run_dir"]), "--round", str(r), "--out", str(target)])
            == 0
        )
    assert (target / "saved_model.pb").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left"
    capsys.readouterr()


@pytest.mark.parametrize("kind", list(RUNS))
def test_run_exports_the_ticket_and_records_its_sizes(exports, kind):
    """`lth-tf run` exports the winner to RUN_DIR/ticket and puts its sizes in summary.json."""
    run_dir = exports[kind]["run_dir"]
    ticket = json.loads((run_dir / "summary.json").read_text())["ticket"]
    assert ticket["round"] == 2 and Path(ticket["path"]) == run_dir / "ticket"
    assert (run_dir / "ticket" / "saved_model.pb").is_file()
    assert ticket["saved_model_bytes"] == sum(
        f.stat().st_size for f in (run_dir / "ticket").rglob("*") if f.is_file()
    )
    assert 0 < ticket["gzip_bytes"] < ticket["saved_model_bytes"]


def _export(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["export", *args])
    return code, out.getvalue(), err.getvalue()


def test_an_export_of_another_run_is_replaced_only_with_force(exports, tmp_path):
    """`export --out` used to replace another run's export silently."""
    from lth_tf.export import description

    cnn, gcn = exports["cnn"]["run_dir"], exports["gcn"]["run_dir"]
    target = tmp_path / "t"
    assert _export(str(cnn), "--round", "2", "--out", str(target))[0] == 0
    source = description(target)["source"]  # the marker names the run and round
    assert source == {"run_dir": str(cnn.resolve()), "config_hash": rundir.stored_hash(cnn), "round": 2,
                      "export_format": "dense"}
    before = (target / "saved_model.pb").read_bytes()
    code, out, err = _export(str(gcn), "--round", "0", "--out", str(target))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "holds round 2 of another run" in err and str(cnn.resolve()) in err and "--force" in err
    assert (target / "saved_model.pb").read_bytes() == before
    assert _export(str(gcn), "--round", "0", "--out", str(target), "--force")[0] == 0
    assert description(target)["source"]["run_dir"] == str(gcn.resolve())


def test_narrow_on_a_weight_pruned_ticket_warns_in_one_line(exports, tmp_path):
    code, _, err = _export(str(exports["cnn"]["run_dir"]), "--format", "narrow", "--out", str(tmp_path / "n"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("lth-tf: warning: --format narrow on a weight-pruned")
    assert "--format sparse" in warnings[0]
    # the default stays dense for a weight-pruned run, without a warning
    code, _, err = _export(str(exports["cnn"]["run_dir"]), "--out", str(tmp_path / "d"))
    assert code == 0 and "warning" not in err and err.splitlines()[0].endswith("sparse) of " + str(exports["cnn"]["run_dir"]))
