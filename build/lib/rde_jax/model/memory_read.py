"""Parameter-free parts of the network: L2 affinity, (top-k) softmax read-out, soft aggregation.

Layouts: memory keys mk (M, Ck) with M = T*h*w positions in (T, h, w) row-major order, query keys
qk (Q, Ck) with Q = h*w, memory values mv (K, M, Cv). Affinities are (Q, M): one row per query
position, softmax along the memory axis (the official (M, Q) layout transposed).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def l2_affinity(mk: jnp.ndarray, qk: jnp.ndarray) -> jnp.ndarray:
  """S[q, m] = (2 <mk_m, qk_q> - |mk_m|^2) / sqrt(Ck): (..., Q, M), float32.

  Official `MemoryBank._global_matching` / STCN `get_affinity`.

  The -|qk_q|^2 term is left out as officially: constant per query, it cancels in the softmax.
  """
  if mk.dtype == jnp.float16:  # as under autocast: the matmul in float16, |mk|^2 in float32
    b = jnp.einsum("...mc,...qc->...qm", mk, qk.astype(mk.dtype)).astype(jnp.float32)
    mk = mk.astype(jnp.float32)
  else:  # float32 (bfloat16 keys too: 8 mantissa bits would blur the top-k ranking)
    mk = mk.astype(jnp.float32)
    b = jnp.einsum("...mc,...qc->...qm", mk, qk.astype(jnp.float32))
  a = jnp.sum(mk * mk, axis=-1)
  return (2.0 * b - a[..., None, :]) / jnp.sqrt(jnp.float32(mk.shape[-1]))


def softmax_readout(mk: jnp.ndarray, mv: jnp.ndarray, qk: jnp.ndarray,
                    valid: jnp.ndarray | None = None) -> jnp.ndarray:
  """Full-softmax read (training, no top-k), batched.

  mk (B,M,Ck), mv (B,O,M,Cv), qk (B,Q,Ck), valid (M,) bool or None -> read-out (B,O,Q,Cv).
  """
  aff = l2_affinity(mk, qk)  # (B,Q,M)
  if valid is not None:
    aff = jnp.where(valid[None, None, :], aff, -jnp.inf)
  w = jax.nn.softmax(aff, axis=-1)
  return jnp.einsum("bqm,bomc->boqc", w.astype(mv.dtype), mv)


def topk_weights(affinity: jnp.ndarray, k: int,
                 valid: jnp.ndarray | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per query row: the k largest affinities and their softmax weights.

  affinity (Q, M); valid (M,) bool masks memory slots that are not filled yet.
  Returns weights (Q, k) float32 and indices (Q, k) int32. The official code exponentiates
  without subtracting the max; subtracting it is the same up to rounding and cannot overflow.
  """
  if valid is not None:
    affinity = jnp.where(valid[None, :], affinity, -jnp.inf)
  k = min(k, affinity.shape[-1])
  values, idx = jax.lax.top_k(affinity, k)
  return jax.nn.softmax(values, axis=-1), idx


def topk_weights_repeated(affinity: jnp.ndarray, k: int,
                          copies: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """`topk_weights` of a memory in which position m is listed copies[m] times (0 = absent).

  The official read lists the first frame twice; here it is stored once and its top-k entries
  count double (the k-th place may take one copy of a pair). Same weights as `topk_weights` on
  the expanded memory, summed over the copies of each position.
  affinity (Q, M) over unique positions, copies (M,) int -> weights (Q, k') float32 and
  indices (Q, k') int32 with k' = min(k, M).
  """
  affinity = jnp.where(copies[None, :] > 0, affinity, -jnp.inf)
  values, idx = jax.lax.top_k(affinity, min(k, affinity.shape[-1]))
  c = copies[idx]
  kept = jnp.clip(k - (jnp.cumsum(c, axis=-1) - c), 0, c).astype(values.dtype)
  # The max as a reduction: slicing values[:, :1] makes XLA:CPU lower top_k as a full sort.
  e = kept * jnp.exp(values - jnp.max(values, axis=-1, keepdims=True))
  return e / jnp.sum(e, axis=-1, keepdims=True), idx


def dense_readout(weights: jnp.ndarray, idx: jnp.ndarray, mv: jnp.ndarray) -> jnp.ndarray:
  """`topk_readout` as one matmul: weights/idx (Q, k) scattered into (Q, M), mv (K, M, Cv).

  Same sums (the other entries are exact zeros); cheaper than gathering (K, Q, k, Cv).
  """
  q = weights.shape[0]
  dense = jnp.zeros((q, mv.shape[1]), weights.dtype).at[jnp.arange(q)[:, None], idx].set(weights)
  return jnp.einsum("qm,kmc->kqc", dense.astype(mv.dtype), mv)


def topk_readout(weights: jnp.ndarray, idx: jnp.ndarray, mv: jnp.ndarray) -> jnp.ndarray:
  """Sparse read-out: weights/idx (Q, k), mv (K, M, Cv) -> (K, Q, Cv), summing the k entries."""
  gathered = jnp.take(mv, idx, axis=1)  # (K, Q, k, Cv)
  return jnp.einsum("qj,kqjc->kqc", weights.astype(mv.dtype), gathered)


def dense_topk_affinity(weights: jnp.ndarray, idx: jnp.ndarray, m: int) -> jnp.ndarray:
  """Scatters top-k weights (Q, k) into a dense (Q, M) affinity (for inspection and tests)."""
  q = weights.shape[0]
  dense = jnp.zeros((q, m), weights.dtype)
  return dense.at[jnp.arange(q)[:, None], idx].add(weights)


def soft_aggregate(probs: jnp.ndarray, axis: int = 0,
                   active: jnp.ndarray | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
  """STM soft aggregation of K object probabilities into K+1 channels (background first).

  probs (..., K, ...) along `axis` -> (log-odds, softmax probabilities), each with K+1 there.
  active (K,) bool (axis 0 only): objects not annotated yet are left out of the background
  product and get probability exactly 0 (the official YouTube-VOS `enabled_obj`).
  """
  probs = probs.astype(jnp.float32)
  if active is not None:
    if axis != 0:
      raise ValueError("soft_aggregate: `active` needs the objects on axis 0")
    keep = active.reshape((-1,) + (1,) * (probs.ndim - 1))
    bg = jnp.prod(jnp.where(keep, 1.0 - probs, 1.0), axis=0, keepdims=True)
  else:
    bg = jnp.prod(1.0 - probs, axis=axis, keepdims=True)
  q = jnp.clip(jnp.concatenate([bg, probs], axis=axis), 1e-7, 1.0 - 1e-7)
  logits = jnp.log(q / (1.0 - q))
  if active is not None:
    with_bg = jnp.concatenate([jnp.ones((1,), bool), active])
    logits = jnp.where(with_bg.reshape((-1,) + (1,) * (probs.ndim - 1)), logits, -jnp.inf)
  return logits, jax.nn.softmax(logits, axis=axis)
