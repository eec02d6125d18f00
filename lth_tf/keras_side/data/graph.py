"""One graph for transductive node classification (`GraphData`) and its preparation.

Loaders return `GraphData` or `ImageData` (lth_tf/keras_side/data/images.py); training code
only talks to these containers. `gcn_normalise` and `row_normalise` prepare the
adjacency and features as Kipf & Welling's GCN takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from lth_tf.platform.backend import tf


@dataclass(eq=False)
class GraphData:
    """One graph for transductive node classification (Planetoid style)."""

    x: np.ndarray  # float32 (N, F) node features
    a: sp.csr_matrix  # GCN-normalised adjacency D^-1/2 (A+I) D^-1/2, float32
    y: np.ndarray  # int64 (N,) labels
    train_mask: np.ndarray  # bool (N,)
    val_mask: np.ndarray
    test_mask: np.ndarray
    num_classes: int
    name: str = ""
    # True when `x` went through row_normalise: an export then row-normalises raw features.
    features_row_normalised: bool = False
    kind: ClassVar[str] = "graph"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.x.shape[1]),)

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def inputs(self) -> tuple[Any, Any]:
        """(features, adjacency), both tf.SparseTensor, as the GCN model takes them.

        Features are sparse as in Kipf & Welling: Cora's are 1.3% nonzero, and
        dropout plus matmul on the sparse form is ~20x faster than on the dense one.
        """
        return to_sparse_tensor(sp.csr_matrix(self.x)), to_sparse_tensor(self.a)


def to_sparse_tensor(m: sp.spmatrix) -> Any:
    """A scipy matrix as a canonically ordered float32 tf.SparseTensor."""
    coo = sp.coo_matrix(m)
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    return tf.sparse.reorder(tf.SparseTensor(indices, coo.data.astype(np.float32), coo.shape))


def gcn_normalise(adj: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 (A+I) D^-1/2 with D the degrees of A+I (Kipf & Welling; Spektral's gcn_filter).

    Any self-loops already in `adj` are replaced by exactly one, as Spektral's
    Citation does before the filter, so the result does not depend on the input's diagonal.
    """
    a = sp.csr_matrix(adj, dtype=np.float64)
    a.setdiag(0)
    a.eliminate_zeros()
    a = a + sp.eye(a.shape[0], format="csr")
    deg = np.asarray(a.sum(axis=1)).ravel()
    d = sp.diags(1.0 / np.sqrt(deg))
    out = (d @ a @ d).tocsr().astype(np.float32)
    out.sort_indices()
    return out


def row_normalise(x: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows summing to 0 stay 0), as Kipf's GCN code does."""
    x = np.asarray(x, np.float32)
    s = x.sum(axis=1, keepdims=True)
    return np.divide(x, s, out=np.zeros_like(x), where=s != 0)
