"""Channel-pruning helpers: random chains of producers (numpy), the form a channel
mask must have, and for the narrow export: random BatchNorm statistics and biases,
and loading exported SavedModels in a fresh process that cannot import lth_tf.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from hypothesis import strategies as st

from lth_tf.core import masks as M
from lth_tf.core.masks import channels as CH


@st.composite
def chains(draw):
    """A chain of producers (conv-like 4D or dense-like 2D kernels) ending in an output layer.

    Layer i reads layer i-1's channels, each link possibly through a Flatten
    (repeat > 1: the reader's input rows are channels x repeat).
    Returns (plan, weights, all-ones masks).
    """
    n = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 7)) for _ in range(n)] + [3]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ties = draw(st.booleans())  # small integers: many equal scores
    names = [f"l{i}" for i in range(n)] + ["output"]
    weights, producers = {}, {}
    rows = draw(st.integers(1, 4))
    for i, name in enumerate(names):
        if i > 0:
            repeat = draw(st.integers(1, 3))
            producers[names[i - 1]] = CH.Producer(names[i - 1], widths[i - 1], (CH.Consumer(name, repeat),))
            rows = widths[i - 1] * repeat
        shape = (2, 2, rows, widths[i]) if draw(st.booleans()) else (rows, widths[i])
        weights[name] = (rng.integers(-2, 3, shape) if ties else rng.normal(size=shape)).astype(np.float32)
    plan = CH.ChannelPlan(producers, {"output": "model output"})
    return plan, weights, M.ones_like(weights)


def assert_channel_masks(masks, plan):
    """Each mask equals in_keep x out_keep: only whole channels (and their input rows) go."""
    keep = CH.keep_vectors(masks, plan.producers)
    feeds = {c.name: (n, c.repeat) for n, p in plan.producers.items() for c in p.consumers}
    for name, m in masks.items():
        out = keep.get(name, np.ones(m.shape[-1], dtype=bool))
        if name in feeds:
            src, repeat = feeds[name]
            rows = np.tile(keep[src], repeat)
        else:
            rows = np.ones(m.shape[-2], dtype=bool)
        expected = rows[:, None] & out[None, :]
        assert np.array_equal(m != 0, np.broadcast_to(expected, m.shape)), name
        assert set(np.unique(m)) <= {0.0, 1.0}


LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    import tf_keras

    out = {}
    for kind, path, inputs in json.loads(sys.argv[1]):
        z = np.load(inputs)
        if "image" in z.files:
            args = tf.constant(z["image"])
        else:
            args = [tf.SparseTensor(z[p + "_i"], z[p + "_v"], z[p + "_s"]) for p in ("x", "a")]
        out[kind + ":sm"] = tf.saved_model.load(path)(args, training=False).numpy()
        model = tf_keras.models.load_model(path, compile=False)
        out[kind + ":keras"] = model(args, training=False).numpy()
        out[kind + ":params"] = np.array(model.count_params())
    np.savez(sys.argv[2], **out)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in
                    ("lth_tf", "spektral", "tensorflow_model_optimization"))
    print(json.dumps(leaked))
    """
)



def load_in_fresh_process(jobs, tmp):
    """[[kind, SavedModel path, inputs .npz]] loaded in one fresh process, no lth_tf on the path.

    Returns ({kind:sm, kind:keras, kind:params: array}, [lth_tf-side modules the loader imported])."""
    script = tmp / "load.py"
    script.write_text(LOADER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(jobs), str(tmp / "out.npz")],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    leaked = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(tmp / "out.npz") as z:
        outputs = {k: z[k] for k in z.files}
    return outputs, leaked


def randomise(keras, wrapped, rng):
    """Random BatchNorm statistics and biases: dead channels then carry constants."""
    for layer in wrapped.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            inner.set_weights([rng.uniform(0.5, 1.5, v.shape).astype("float32") for v in inner.get_weights()])
        elif getattr(inner, "bias", None) is not None:
            inner.bias.assign(rng.normal(size=inner.bias.shape).astype("float32"))
