"""Dynamic loss scaling for float16 training, as PyTorch's `torch.cuda.amp.GradScaler`.

    ls = LossScale.create(dynamic=True)  # scale 2**16
    loss, aux, grads = ls.value_and_grad(loss_fn)(params)  # grads unscaled, float32
    finite = ls.all_finite(loss, grads)
    ls = ls.update(finite)  # halve on overflow, grow after N good steps

The official runs train with AMP (`autocast` + `GradScaler()` with its defaults): the loss
is multiplied by the scale before the backward pass so float16 gradients do not underflow; a
step whose gradients overflow (inf/NaN) is skipped, the scale is halved (backoff 0.5) and the
count of good steps restarts; after `growth_interval` (2000) good steps in a row the scale
doubles. A skipped step is part of normal float16 training, not a failure: the train step
reports it as `skipped` (the loop stops only on a non-finite step that scaling cannot
explain: without dynamic scaling, or with the scale already at `min_scale`).

With `dynamic=False` (float32 / bfloat16) the scale is 1 and never changes.
"""

from __future__ import annotations

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class LossScale:
  """Scale state (arrays: checkpointed with the train state) and its static settings."""

  scale: jnp.ndarray  # () float32
  good_steps: jnp.ndarray  # () int32: finite steps since the last change
  dynamic: bool = flax.struct.field(pytree_node=False, default=False)
  growth_interval: int = flax.struct.field(pytree_node=False, default=2000)
  growth_factor: float = flax.struct.field(pytree_node=False, default=2.0)
  backoff_factor: float = flax.struct.field(pytree_node=False, default=0.5)
  min_scale: float = flax.struct.field(pytree_node=False, default=1.0)

  @classmethod
  def create(cls, *, dynamic: bool, init_scale: float = 2.0 ** 16, growth_interval: int = 2000,
             min_scale: float = 1.0) -> "LossScale":
    """GradScaler defaults: init 2**16, growth 2.0 every 2000 good steps, backoff 0.5."""
    if growth_interval < 1:
      raise ValueError(f"loss-scale growth_interval must be >= 1, got {growth_interval}")
    scale = init_scale if dynamic else 1.0
    return cls(jnp.float32(scale), jnp.int32(0), dynamic=dynamic,
               growth_interval=int(growth_interval), min_scale=float(min_scale))

  def value_and_grad(self, fun: Callable[[Any], tuple[jnp.ndarray, Any]]) -> Callable:
    """fun(params) -> (loss, aux) becomes params -> (loss, aux, grads of the unscaled loss)."""
    def scaled(params):
      loss, aux = fun(params)
      return loss.astype(jnp.float32) * self.scale, (loss, aux)

    def wrapped(params):
      (_, (loss, aux)), grads = jax.value_and_grad(scaled, has_aux=True)(params)
      return loss, aux, jax.tree_util.tree_map(lambda g: g / self.scale.astype(g.dtype), grads)

    return wrapped

  @staticmethod
  def all_finite(loss: jnp.ndarray, grads: Any) -> jnp.ndarray:
    """() bool: the loss and every gradient entry are finite."""
    return jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(grads))

  def update(self, finite: jnp.ndarray) -> "LossScale":
    """The scale after a step (GradScaler.update); unchanged unless `dynamic`."""
    if not self.dynamic:
      return self
    grown = self.good_steps + 1 >= self.growth_interval
    good_scale = jnp.where(grown, self.scale * self.growth_factor, self.scale)
    good_steps = jnp.where(grown, 0, self.good_steps + 1)
    bad_scale = jnp.maximum(self.scale * self.backoff_factor, self.min_scale)
    return self.replace(scale=jnp.where(finite, good_scale, bad_scale).astype(jnp.float32),
                        good_steps=jnp.where(finite, good_steps, 0).astype(jnp.int32))

  def can_skip(self) -> jnp.ndarray:
    """() bool: a non-finite step now is an overflow to skip (dynamic and scale above min)."""
    return jnp.asarray(self.dynamic) & (self.scale > self.min_scale)
