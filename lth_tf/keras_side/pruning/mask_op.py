"""tfmot's in-step masking, computed in the variables' own precision (float32).

At the start of every call, tfmot's wrapper assigns `weight * mask` to each pruned
weight, so the forward pass sees pruned weights as 0.0 whatever the last optimizer
step did. Under a mixed precision policy a variable read inside a layer's call is
cast to the compute dtype, so tfmot multiplied bfloat16 copies and wrote the product
back: every training step rounded the float32 master kernels of every pruned layer to
bfloat16, and optimizer updates below bfloat16's precision (8 bits) were lost
(measured: after one training call under mixed_bfloat16 every kernel equalled its
bfloat16 rounding). `float32_masking(wrapper)` replaces the op with one that reads the
stored values through the variables' handles (ReadVariableOp: no autocast) and
assigns their float32 product; under a float32 policy it computes exactly what
tfmot's op does. The layer then computes in bfloat16 from the masked float32 weights,
as mixed precision intends.
"""

from __future__ import annotations

import functools
from typing import Any

from lth_tf.platform.backend import tf


def _stored(variable: Any) -> tf.Tensor:
    """The variable's value in its own dtype, also inside an autocast scope."""
    dtype = getattr(variable, "true_dtype", variable.dtype)  # AutoCastVariable: the stored dtype
    try:
        handle = variable.handle
    except ValueError:
        # A tf.distribute variable outside a replica context (the model's first call in the
        # strategy's scope) has no single handle. Read the stored value itself: an
        # AutoCastVariable keeps it in `_variable` (TF's attribute; read_value of the wrapper
        # would cast it to the compute dtype).
        return tf.identity(getattr(variable, "_variable", variable).read_value())
    return tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)


def _update(distribution: Any, values_and_vars: list) -> Any:
    # As tfmot does: the weight belongs to the wrapped layer, whose aggregation we do not
    # control, so the replicas' (equal) masked values are averaged and assigned.
    reduced = distribution.extended.batch_reduce_to(tf.distribute.ReduceOp.MEAN, values_and_vars)
    return tf.group([
        distribution.extended.update(var, lambda v, x: v.assign(x), args=(value,))
        for value, (_, var) in zip(reduced, values_and_vars, strict=True)
    ])


def masked_assign_op(pruning_vars: list) -> Any:
    """Assign weight * mask to every (weight, mask, threshold) of a wrapper, in float32."""
    values_and_vars = [(_stored(weight) * _stored(mask), weight) for weight, mask, _ in pruning_vars]
    context = tf.distribute.get_replica_context()
    if context is not None:
        return context.merge_call(_update, args=(values_and_vars,)) if values_and_vars else tf.no_op()
    return tf.group([weight.assign(value) for value, weight in values_and_vars])


def float32_masking(wrapper: Any) -> None:
    """Make the tfmot `wrapper` mask its weights in their stored precision (see the module doc)."""
    wrapper.pruning_obj.weight_mask_op = functools.partial(masked_assign_op, wrapper.pruning_vars)
