"""Layer calls that multiply by a pruned kernel held as a tf.SparseTensor.

Used by lth_tf.export.serving_model while tracing the serving signatures: a Dense or
GCN layer whose kernel is sparse enough gets one of these as its `call`.
`kernel()` gives the dense kernel for inputs the sparse product cannot take (a
SparseTensor input: TensorFlow has no SparseTensor-by-SparseTensor product; a
rank other than 2), `used()` records that the sparse product was traced.
"""

from __future__ import annotations

from collections.abc import Callable

from lth_tf.platform.backend import keras, tf


def is_gcn(layer) -> bool:
    return any(c.__name__ == "GCNConv" for c in type(layer).__mro__)


def sparse_capable(layer, attr: str, shape: tuple[int, ...]) -> bool:
    return attr == "kernel" and len(shape) == 2 and (
        type(layer) is keras.layers.Dense or is_gcn(layer)
    )


def _matmul(x, kernel, sparse_kernel, used: Callable[[], None]):
    """x @ kernel, the kernel sparse when x is dense and rank 2 (`used()` says it was)."""
    if isinstance(x, tf.SparseTensor):
        return tf.sparse.sparse_dense_matmul(x, kernel())
    if x.shape.rank != 2:
        return tf.tensordot(x, kernel(), 1)
    used()
    # (K^T x^T)^T: the sparse operand first, as sparse_dense_matmul wants it.
    return tf.transpose(
        tf.sparse.sparse_dense_matmul(sparse_kernel, x, adjoint_a=True, adjoint_b=True)
    )


def dense_call(layer, kernel, sparse_kernel, used) -> Callable:
    def call(inputs, *args, **kwargs):
        y = _matmul(inputs, kernel, sparse_kernel, used)
        if layer.use_bias:
            y = tf.nn.bias_add(y, layer.bias)
        return layer.activation(y) if layer.activation is not None else y

    return call


def gcn_call(layer, kernel, sparse_kernel, used) -> Callable:
    """Spektral's GCNConv.call (x @ W, then A @ ., bias, mask, activation) with W sparse."""

    def call(inputs, mask=None, **kwargs):
        x, a = inputs
        y = _matmul(x, kernel, sparse_kernel, used)
        y = tf.sparse.sparse_dense_matmul(a, y) if isinstance(a, tf.SparseTensor) else a @ y
        if layer.use_bias:
            y = tf.nn.bias_add(y, layer.bias)
        if mask is not None:
            y *= mask[0]
        return layer.activation(y)

    return call
