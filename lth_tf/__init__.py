"""lth-tf: lottery-ticket research on TensorFlow/Keras.

    import lth_tf
    search = lth_tf.TicketSearch(model, rounds=5, epochs=10)
    summary = search.fit(train, validation_data=val, test_data=test)

Importing the package does not import TensorFlow; `TicketSearch` (and the
modules that need TF) import it on first use, via `lth_tf.platform.backend`, which
arranges Keras 2 for tfmot first.
"""

from typing import Any

from lth_tf.core.errors import LthError

__version__ = "0.1.0"
__all__ = ["LthError", "TicketSearch", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import lth_tf` stays cheap for the CLI's checks before TF loads.
    if name == "TicketSearch":
        from lth_tf.frontends.api import TicketSearch

        return TicketSearch
    raise AttributeError(f"module 'lth_tf' has no attribute {name!r}")
