"""Content digests of the published Planetoid files, so an edited file cannot pass.

The structural checks in planetoid.py catch files that cannot be a graph; a
flipped byte inside a feature value, a label or a neighbour id still gives a
well-formed file that trains on a different data set without a word. The
published files never change, so each file's decoded content (not its bytes:
the same arrays re-pickled with another protocol are the same data) is compared
with its digest from the tkipf/gcn release. PubMed has no digest here yet
(no offline copy to take it from), so it gets the structural checks only.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import scipy.sparse as sp

# sha256 of `content_digest(planetoid.read(...)[suffix])` for the tkipf/gcn files.
PUBLISHED: dict[str, dict[str, str]] = {
    "cora": {
        "x": "1475eea245ad524373b52d05e91ff98f7f3a7e00baae33534bb2ede2fea13d78",
        "y": "5575e44f761992d840dc32cb1c5378d1e87f4ec6eb19f9f31f057b556d8ffd8e",
        "tx": "59bfcb17500dcf88df06ff983c7be54acdb6f995c2bbf962b59d6cbab5ef84d9",
        "ty": "d7967fec1cf8b25088bedf48564700e10df6f66a56bb0a9fb9eabfd1a62627eb",
        "allx": "3cc594af8fa0b994aba3672df034554b5b69e90c3be33b5bc71f2b67b09f778f",
        "ally": "eaeb40121b7cabc32219285023a3d3a184ab2917a89cd34149c992d91c89705e",
        "graph": "6daa873d4ed1c4b77440763f5bf95cefae84c493b66bf0244fcec54565ee7712",
        "test.index": "033453ec445354f92051f57ba23d3826fdc27197bd6d9e2a3bce1a192ea5b1f3",
    },
    "citeseer": {
        "x": "d625a1080af9e6fff58d056fd43185bafd31d6be9aa7550276bd8a9969b09fe7",
        "y": "e079f4b514112dda32bec2f0db764f2a0f55b1eada18bd6302663dc20ce58de7",
        "tx": "4c1779cc73eeaefcb442dcfd3bfbcf770692176d035848c0c06a78a4b994a2f6",
        "ty": "1b1b77938ae6f6babf1e9a955b455a74971171aee429dcfb355b382bb757c129",
        "allx": "2a55becb7a500c96d38365bafd2b59d485ef3a5585379b36bcd86d87771d1c5e",
        "ally": "26f93759414dc9a5f39775b2a7b189fab965347808c89dbed411972c514f3d62",
        "graph": "b9127f86b700681cfbdf62e3bf61ba8892c3161d178d3d49e329d00cc210fea3",
        "test.index": "51926e74e76d6a0f9247fa2f14b5b232e5a3bd267a28af137bca891ebffbf825",
    },
}


def content_digest(value: Any) -> str:
    """sha256 of what a checked file holds, independent of pickle protocol and int widths."""
    h = hashlib.sha256()
    if sp.issparse(value):
        m = value.tocsr()
        h.update(b"csr")
        h.update(np.asarray(m.shape, np.int64).tobytes())
        h.update(m.indptr.astype(np.int64).tobytes())
        h.update(m.indices.astype(np.int64).tobytes())
        h.update(m.data.astype(np.float64).tobytes())
    elif isinstance(value, dict):  # graph: node -> neighbour list, keys 0..n-1 in order
        h.update(b"graph")
        for k, nbrs in value.items():
            h.update(np.asarray([k, len(nbrs), *nbrs], np.int64).tobytes())
    else:
        a = np.asarray(value)
        h.update(b"array")
        h.update(np.asarray(a.shape, np.int64).tobytes())
        h.update(a.astype(np.int64 if np.issubdtype(a.dtype, np.integer) else np.float64).tobytes())
    return h.hexdigest()


def changed(files: dict[str, Any], name: str) -> list[str]:
    """The suffixes whose content differs from the published `name` files ([] if unknown)."""
    known = PUBLISHED.get(name, {})
    return [s for s, digest in known.items() if content_digest(files[s]) != digest]
