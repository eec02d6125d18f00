"""The serving signatures of an exported ticket, and the description of them.

A served ticket must be callable without lth_tf and without knowing how the
run prepared its data, so the preparation goes into the graph:

Image models (the data's per-channel mean/std are known):
  serving_default     image: uint8 (N, H, W, C) raw pixels 0..255; normalised
                      in the graph with the training data's mean/std.
  serving_normalized  image: float32 (N, H, W, C), already (x - mean) / std.
  Without mean/std (data given from Python as arrays, or a Python-data run
  exported without its data), only the float signature exists, as both
  names; the marker says so (`raw_input: false`).
Graph models (GCN):
  serving_default     six COO tensors, as `tf.SparseTensor(indices, values,
                      dense_shape)` parts: x_* the (N, F) node features as the
                      run fed them (row-normalised if it used that), a_* the (N, N)
                      adjacency already normalised D^-1/2 (A+I) D^-1/2; checked in
                      the graph (shapes agree, indices in range).
  serving_dense       x: float32 (N, F) raw features, a: float32 (N, N) raw
                      adjacency (edge weights, both directions for an undirected
                      graph; the diagonal is ignored and one self-loop added);
                      both normalised in the graph as the training data was.
  serving_sparse      six COO tensors like serving_default, but raw: x_* the
                      (N, F) features, a_* the (N, N) adjacency as serving_dense
                      takes them (duplicate entries add up, like scipy's COO);
                      normalised in the graph with sparse ops, so nothing
                      (N, N) or (N, F) is ever dense; checked as serving_default.
Every signature returns `logits` (N, K) float32, `probabilities` (softmax)
and `class_index` (N,) int64; `class_name` (N,) string too when the data
names its classes. A `class_names` signature (no inputs) returns them all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lth_tf.platform.backend import tf

IMAGE_RAW, IMAGE_FLOAT = "serving_default", "serving_normalized"
GRAPH_COO, GRAPH_DENSE, GRAPH_SPARSE = "serving_default", "serving_dense", "serving_sparse"
CLASS_NAMES = "class_names"


def build(model, data: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(signatures for `model.save`, their description for the export's marker JSON)."""
    inputs = list(model.inputs)
    if len(model.outputs) != 1:
        return {}, {"signatures": "Keras default (serving_default)"}
    if any(isinstance(i.type_spec, tf.SparseTensorSpec) for i in inputs):
        return _graph(model, data)
    if len(inputs) == 1 and inputs[0].shape.rank == 4:
        return _image(model, data)
    return {}, {"signatures": "Keras default (serving_default)"}  # other user models


# -- outputs ------------------------------------------------------------------------------
def _outputs(logits, names):
    index = tf.argmax(logits, axis=-1)
    out = {"logits": logits, "probabilities": tf.nn.softmax(logits), "class_index": index}
    if names is not None:
        out["class_name"] = tf.gather(names, index)
    return out


def _output_doc(num_classes: int, named: bool) -> dict[str, str]:
    doc = {
        "logits": f"float32 (N, {num_classes})",
        "probabilities": f"float32 (N, {num_classes}), softmax of logits",
        "class_index": "int64 (N,), argmax",
    }
    if named:
        doc["class_name"] = "string (N,), class_names[class_index]"
    return doc


def _class_names(data: Any, num_classes: int) -> list[str] | None:
    names = [str(n) for n in getattr(data, "class_names", ()) or ()]
    return names if len(names) == num_classes else None


def _names_signature(names: list[str]):
    constant = tf.constant(names, tf.string)

    @tf.function(input_signature=[])
    def class_names():
        return {"class_names": tf.identity(constant)}

    return class_names


# -- images -------------------------------------------------------------------------------
def _image(model, data: Any):
    shape = tuple(model.inputs[0].shape)  # (None, H, W, C)
    dims = "(N, " + ", ".join(str(d) for d in shape[1:]) + ")"
    k = int(model.outputs[0].shape[-1])
    names = _class_names(data, k)
    names_t = tf.constant(names, tf.string) if names else None
    mean, std = getattr(data, "mean", None), getattr(data, "std", None)

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, "image")])
    def normalized(image):
        return _outputs(model(image, training=False), names_t)

    sigs: dict[str, Any] = {IMAGE_FLOAT: normalized}
    doc: dict[str, Any] = {
        IMAGE_FLOAT: {
            "inputs": {"image": f"float32 {dims}, (pixels - mean) / std per channel"},
            "outputs": _output_doc(k, bool(names)),
        }
    }
    if mean is not None and std is not None:
        # The same arithmetic as ImageData._normaliser, so served and trained inputs agree bit for bit.
        mean_t = tf.constant(np.asarray(mean, np.float32))
        inv_std = tf.constant(1.0 / np.asarray(std, np.float32))

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8, "image")])
        def raw(image):
            x = (tf.cast(image, tf.float32) - mean_t) * inv_std
            return _outputs(model(x, training=False), names_t)

        sigs[IMAGE_RAW] = raw
        doc[IMAGE_RAW] = {
            "inputs": {"image": f"uint8 {dims}, raw pixels 0..255"},
            "outputs": _output_doc(k, bool(names)),
        }
        doc["normalization"] = {
            "mean": [float(m) for m in np.ravel(mean)],
            "std": [float(s) for s in np.ravel(std)],
            "scale": "0..255, per channel",
        }
        doc["raw_input"] = True
    else:
        sigs[IMAGE_RAW] = normalized  # serving_default: the float signature
        doc["raw_input"] = False
        doc["note"] = (
            "no mean/std known (data given from Python as arrays, or not loaded), "
            "so serving_default takes the model's float32 inputs"
        )
    doc["class_names"] = names
    if names:
        sigs[CLASS_NAMES] = _names_signature(names)
    return sigs, doc


# -- graphs -------------------------------------------------------------------------------
def _check_coo(indices, values, dense_shape, name: str):
    """Asserts (in the graph) that the three parts form a valid 2-D sparse tensor."""
    return [
        tf.debugging.assert_equal(
            tf.shape(indices, out_type=tf.int64)[0],
            tf.shape(values, out_type=tf.int64)[0],
            message=f"{name}_indices and {name}_values must have the same number of rows",
        ),
        tf.debugging.assert_non_negative(indices, message=f"{name}_indices must be >= 0"),
        tf.debugging.assert_less(
            indices,
            dense_shape[None, :],
            message=f"{name}_indices out of range of {name}_dense_shape",
        ),
    ]


def _graph(model, data: Any):
    features = int(model.inputs[0].shape[-1])
    k = int(model.outputs[0].shape[-1])
    row_norm = bool(getattr(data, "features_row_normalised", False))
    parts = [
        tf.TensorSpec((None, 2), tf.int64, "x_indices"),
        tf.TensorSpec((None,), tf.float32, "x_values"),
        tf.TensorSpec((2,), tf.int64, "x_dense_shape"),
        tf.TensorSpec((None, 2), tf.int64, "a_indices"),
        tf.TensorSpec((None,), tf.float32, "a_values"),
        tf.TensorSpec((2,), tf.int64, "a_dense_shape"),
    ]

    def predict(x, a):
        return _outputs(model([x, a], training=False), None)

    def checked_coo(x_indices, x_values, x_dense_shape, a_indices, a_values, a_dense_shape,
                    order_a=True):
        """The two inputs as tf.SparseTensors (ordered; `a` only if `order_a`), after the
        checks in the graph."""
        checks = _check_coo(x_indices, x_values, x_dense_shape, "x")
        checks += _check_coo(a_indices, a_values, a_dense_shape, "a")
        n = x_dense_shape[0]
        checks += [
            tf.debugging.assert_equal(
                x_dense_shape[1],
                tf.constant(features, tf.int64),
                message=f"x_dense_shape[1] must be {features} (features per node)",
            ),
            tf.debugging.assert_equal(
                a_dense_shape,
                tf.stack([n, n]),
                message="a_dense_shape must be (N, N) with N = x_dense_shape[0]",
            ),
        ]
        # Every op reading the parts is made under the checks: an op outside this block (a
        # reorder, say) may run before them and fail with TensorFlow's message instead of ours.
        with tf.control_dependencies(checks):
            x = tf.sparse.reorder(tf.SparseTensor(x_indices, x_values, x_dense_shape))
            a = tf.SparseTensor(tf.identity(a_indices), tf.identity(a_values), tf.identity(a_dense_shape))
            return x, (tf.sparse.reorder(a) if order_a else a)

    @tf.function(input_signature=parts)
    def coo(x_indices, x_values, x_dense_shape, a_indices, a_values, a_dense_shape):
        return predict(*checked_coo(x_indices, x_values, x_dense_shape, a_indices, a_values, a_dense_shape))

    @tf.function(input_signature=parts)
    def sparse(x_indices, x_values, x_dense_shape, a_indices, a_values, a_dense_shape):
        x, a = checked_coo(x_indices, x_values, x_dense_shape, a_indices, a_values, a_dense_shape,
                           order_a=False)  # sparse_gcn_normalise orders its result
        if row_norm:
            x = sparse_row_normalise(x)
        # the first layer's X.W is then tf.sparse.sparse_dense_matmul, as in serving_default
        return predict(x, sparse_gcn_normalise(a))

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, features), tf.float32, "x"),
            tf.TensorSpec((None, None), tf.float32, "a"),
        ]
    )
    def dense(x, a):
        n = tf.shape(x)[0]
        checks = [
            tf.debugging.assert_equal(
                tf.shape(a), tf.stack([n, n]), message="a must be (N, N) with N = rows of x"
            )
        ]
        with tf.control_dependencies(checks):
            a_norm = gcn_normalise(a)
            if row_norm:
                x = row_normalise(x)
        return predict(tf.sparse.from_dense(x), tf.sparse.from_dense(a_norm))

    coo_doc = {
        "x_indices": "int64 (nnz_x, 2), (node, feature) of each nonzero feature",
        "x_values": "float32 (nnz_x,)"
        + (", features row-normalised (each row divided by its sum)" if row_norm else ""),
        "x_dense_shape": f"int64 (2,) = [N, {features}]",
        "a_indices": "int64 (nnz_a, 2), (row, column) of each nonzero of the normalised adjacency",
        "a_values": "float32 (nnz_a,), of D^-1/2 (A+I) D^-1/2, D the row sums of A+I",
        "a_dense_shape": "int64 (2,) = [N, N]",
    }
    dense_doc = {
        "x": f"float32 (N, {features}) raw node features"
        + ("; row-normalised in the graph" if row_norm else ", used as given"),
        "a": "float32 (N, N) raw adjacency (edge weights; both directions for an undirected "
        "graph); diagonal ignored, one self-loop added, then D^-1/2 (A+I) D^-1/2 in the graph",
    }
    sparse_doc = {
        "x_indices": "int64 (nnz_x, 2), (node, feature) of each nonzero raw feature",
        "x_values": "float32 (nnz_x,), raw features"
        + ("; row-normalised in the graph" if row_norm else ", used as given"),
        "x_dense_shape": f"int64 (2,) = [N, {features}]",
        "a_indices": "int64 (nnz_a, 2), (row, column) of each nonzero of the raw adjacency",
        "a_values": "float32 (nnz_a,), edge weights (both directions for an undirected graph); "
        "diagonal ignored, one self-loop added, then D^-1/2 (A+I) D^-1/2 in the graph",
        "a_dense_shape": "int64 (2,) = [N, N]",
    }
    doc = {
        GRAPH_COO: {"inputs": coo_doc, "outputs": _output_doc(k, False), "checked": True},
        GRAPH_DENSE: {"inputs": dense_doc, "outputs": _output_doc(k, False)},
        GRAPH_SPARSE: {"inputs": sparse_doc, "outputs": _output_doc(k, False), "checked": True},
        "features_row_normalised": row_norm,
    }
    return {GRAPH_COO: coo, GRAPH_DENSE: dense, GRAPH_SPARSE: sparse}, doc


def gcn_normalise(a):
    """D^-1/2 (A+I) D^-1/2 of a dense (N, N) tensor, as lth_tf.keras_side.data.graph.gcn_normalise."""
    a = tf.linalg.set_diag(a, tf.zeros_like(tf.linalg.diag_part(a)))
    a = a + tf.eye(tf.shape(a)[0], dtype=a.dtype)
    d = tf.math.rsqrt(tf.reduce_sum(a, axis=1))
    return d[:, None] * a * d[None, :]


def sparse_gcn_normalise(a):
    """gcn_normalise of an (N, N) tf.SparseTensor in any order, without densifying it
    (duplicate entries add up, as in the dense sum); the result is ordered."""
    n = a.dense_shape[0]
    off = tf.sparse.retain(a, a.indices[:, 0] != a.indices[:, 1])
    loops = tf.range(n)
    indices = tf.concat([off.indices, tf.stack([loops, loops], axis=1)], axis=0)
    values = tf.concat([off.values, tf.ones([n], a.dtype)], axis=0)
    d = tf.math.rsqrt(tf.math.unsorted_segment_sum(values, indices[:, 0], n))
    values = tf.gather(d, indices[:, 0]) * values * tf.gather(d, indices[:, 1])
    return tf.sparse.reorder(tf.SparseTensor(indices, values, a.dense_shape))


def sparse_row_normalise(x):
    """row_normalise of an (N, F) tf.SparseTensor: each value divided by its row's sum."""
    s = tf.math.unsorted_segment_sum(x.values, x.indices[:, 0], x.dense_shape[0])
    return tf.SparseTensor(x.indices, tf.math.divide_no_nan(x.values, tf.gather(s, x.indices[:, 0])),
                           x.dense_shape)


def row_normalise(x):
    """Each row divided by its sum; rows summing to 0 stay 0 (lth_tf.keras_side.data.graph.row_normalise)."""
    s = tf.reduce_sum(x, axis=1, keepdims=True)
    return tf.math.divide_no_nan(x, s)


def usage(path: str, doc: dict[str, Any]) -> list[str]:
    """Three lines of Python that call the export at `path` (for `lth-tf export`);
    for a graph model a fourth, a comment naming the raw COO signature's inputs."""
    if GRAPH_DENSE in doc:
        call = f'out = m.signatures["{GRAPH_DENSE}"](x=features, a=adjacency)  # raw (N,F), (N,N)'
    elif doc.get("raw_input"):
        call = f'out = m.signatures["{IMAGE_RAW}"](image=tf.constant(images, tf.uint8))'
    elif IMAGE_FLOAT in doc:
        call = f'out = m.signatures["{IMAGE_RAW}"](image=normalised_float32_images)'
    else:
        call = 'out = m.signatures["serving_default"](**inputs)'
    outputs = doc.get(IMAGE_RAW, doc.get(GRAPH_COO, {})).get("outputs", {})
    keys = ", ".join(k for k in outputs if k != "class_index")  # the comment names class_index first
    lines = [
        "import tensorflow as tf",
        f'm = tf.saved_model.load("{path}")',
        call + (f'  # out["class_index"]; also: {keys}' if keys and "#" not in call else ""),
    ]
    if GRAPH_SPARSE in doc:
        lines.append(f'# sparse, raw COO: m.signatures["{GRAPH_SPARSE}"](x_indices=, x_values=, '
                     "x_dense_shape=, a_indices=, a_values=, a_dense_shape=)")
    return lines


def names(doc: dict[str, Any]) -> list[str]:
    """The signature names an export's description lists."""
    served = sorted((k for k in doc if k.startswith("serving_")), key=lambda k: k != IMAGE_RAW)
    return served + ([CLASS_NAMES] if doc.get(CLASS_NAMES) else [])
