"""Kipf & Welling's two-layer graph convolutional network, prunable by tfmot.

dropout -> GCNConv(hidden, ReLU, L2 on its kernel) -> dropout -> GCNConv(classes),
giving one row of logits per node. The model takes `[x, a]`: node features x as a
`tf.SparseTensor` of shape (N, F) and the GCN-normalised adjacency a as a `tf.SparseTensor` (N, N).
Keras's batch axis is the node axis, so a whole graph is one batch; training is
full-batch, with per-node sample weights selecting the training nodes.

Spektral's GCNConv does not tell tfmot which weight to prune; `PrunableGCNConv`
adds `get_prunable_weights` (the kernel only; biases are never pruned) and is
registered with Keras so saved models load again.

Example:

```python
from lth_tf.core.config import Model
from lth_tf.keras_side.models import gcn

model = gcn.build_gcn(Model(name="gcn", hidden=16), (1433,), 7, seed=0)
logits = model([x, a])  # x: tf.SparseTensor (N, 1433), a: tf.SparseTensor (N, N) -> (N, 7)
```
"""

from __future__ import annotations

from lth_tf.core.config import Model
from lth_tf.core.errors import LthError
from lth_tf.keras_side.models.common import check_classes, init, l2
from lth_tf.platform.backend import check_spektral_keras, keras, tf

check_spektral_keras()  # Spektral's layers must subclass tf_keras' (one LthError line otherwise)
# Both after lth_tf.platform.backend, so they see Keras 2 (tf_keras).
import tensorflow_model_optimization as tfmot  # isort: skip
from spektral.layers import GCNConv  # isort: skip

layers = keras.layers


@keras.utils.register_keras_serializable(package="lth_tf")
class PrunableGCNConv(GCNConv, tfmot.sparsity.keras.PrunableLayer):
    """Spektral's GCNConv with its kernel exposed to tfmot's pruning wrapper.

    Args:
        channels: number of output features per node.
        **kwargs: everything GCNConv accepts (activation, use_bias,
            kernel_initializer, kernel_regularizer, name, ...).
    """

    def get_prunable_weights(self):
        return [self.kernel]


@keras.utils.register_keras_serializable(package="lth_tf")
class SparseDropout(layers.Layer):
    """Dropout on the stored values of a tf.SparseTensor (Kipf's sparse_dropout).

    Args:
        rate: fraction of the nonzero entries dropped while training.
    """

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        if not isinstance(x, tf.SparseTensor):  # dense features also work
            return tf.nn.dropout(x, self.rate)
        keep = tf.random.uniform(tf.shape(x.values)) >= self.rate
        kept = tf.sparse.retain(x, keep)
        return tf.SparseTensor(kept.indices, kept.values / (1.0 - self.rate), kept.dense_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def build_gcn(cfg: Model, input_shape: tuple, num_classes: int, seed: int) -> keras.Model:
    """Build Kipf's two-layer GCN as a functional model that outputs logits.

    Args:
        cfg: model settings; uses `hidden` (units of the first layer), `dropout`
            (rate on the input features and on the hidden layer) and `l2`
            (L2 factor on the first layer's kernel only, as in Kipf & Welling).
        input_shape: `(F,)`, the number of features per node.
        num_classes: size of the output layer.
        seed: seeds both kernel initializers (dropout is drawn at training time).

    Returns:
        An uncompiled `keras.Model` named "gcn" with inputs `[x, a]`; its last
        layer is "output".
    """
    shape = tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], int) or shape[0] < 1:
        raise LthError(
            f"model 'gcn' needs graph input of shape (features,), got {shape}; "
            "use a graph dataset (cora, synthetic_graph) or an image model"
        )
    check_classes("gcn", num_classes)
    if cfg.hidden < 1:
        raise LthError(f"model 'gcn': model.hidden {cfg.hidden} must be at least 1; use e.g. 16")
    if not 0.0 <= cfg.dropout < 1.0:
        raise LthError(f"model 'gcn': model.dropout {cfg.dropout} is outside [0, 1); use e.g. 0.5")

    # Features come sparse (see GraphData.inputs), so the input dropout is sparse too.
    x_in = keras.Input(shape=shape, sparse=True, name="x")
    a_in = keras.Input(shape=(None,), sparse=True, name="a")
    x = SparseDropout(cfg.dropout, name="dropout1")(x_in)
    x = PrunableGCNConv(
        cfg.hidden, activation="relu", kernel_initializer=init("glorot_uniform", seed, "gcn1"),
        kernel_regularizer=l2(cfg.l2), name="gcn1",
    )([x, a_in])
    x = layers.Dropout(cfg.dropout, name="dropout2")(x)
    outputs = PrunableGCNConv(
        num_classes, kernel_initializer=init("glorot_uniform", seed, "output"), name="output"
    )([x, a_in])
    return keras.Model([x_in, a_in], outputs, name="gcn")
