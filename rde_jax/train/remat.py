"""Rematerialisation policies of the training step: which per-frame activations the backward keeps.

Names a config picks (`config.remat`):
  * 'none'      everything the backward needs stays alive (fastest; most memory).
  * 'encoders'  `jax.checkpoint` around each frame's key encoder and each value-encoder call: only
                their inputs and outputs are kept; their insides are recomputed in the backward.
  * 'all'       as 'encoders', plus each decoder call (read + decode) and each SAM compression.
  * 'all_dots'  as 'all', but matrix products / convolutions without batch dimensions keep their
                outputs (`jax.checkpoint_policies.dots_with_no_batch_dims_saveable`): less
                recompute than 'all', more memory.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

POLICIES = ("none", "encoders", "all", "all_dots")
ENCODER_PARTS = frozenset({"key", "value"})
ALL_PARTS = frozenset({"key", "value", "decode", "compress"})


def parts(policy: str) -> frozenset[str]:
  """The network parts that `policy` wraps in `jax.checkpoint`."""
  if policy not in POLICIES:
    raise ValueError(f"unknown remat policy {policy!r}; expected one of {', '.join(POLICIES)}")
  return {"none": frozenset(), "encoders": ENCODER_PARTS}.get(policy, ALL_PARTS)


def wrap(fn: Callable[..., Any], policy: str, part: str) -> Callable[..., Any]:
  """`fn` itself, or `jax.checkpoint(fn)` with the saveable rule of `policy` when it covers
  `part` ('key', 'value', 'decode' or 'compress')."""
  if part not in parts(policy):
    return fn
  saveable = (jax.checkpoint_policies.dots_with_no_batch_dims_saveable if policy == "all_dots"
              else jax.checkpoint_policies.nothing_saveable)
  return jax.checkpoint(fn, policy=saveable)
