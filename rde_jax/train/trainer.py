"""Optimizer, train state and the jitted, data-parallel update.

Parameters (BatchNorm scale/bias included) are trained; BatchNorm running statistics stay frozen
(`batch_stats` is a constant input). The batch is sharded over the 'data' axis of a mesh of every
device of every host; parameters and optimizer state are replicated. A non-finite loss or
gradient leaves the state untouched and is reported through `metrics['finite']`; in float16
(dynamic loss scaling, rde_jax/train/loss_scale.py) such a step is an overflow:
`metrics['skipped']`, the scale halves and training goes on.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rde_jax.model import architectures, conv_algorithm
from rde_jax.model.architectures import Arch
from rde_jax.model.network import RDEVOS
from rde_jax.train import losses
from rde_jax.train.clip_forward import ClipForward
from rde_jax.train.clip_loss import clip_loss, LossConfig
from rde_jax.train.loss_scale import LossScale


# 'auto': on the CPU, Winograd for the large 3x3 convolutions and 1x1 convolutions as matrix
# products, in the forward and (by autodiff: matrix products) the backward; direct convolutions on
# accelerators (docs/training.md, "Convolutions in training"). Under 'highest' matmul precision,
# as the parity tests run, every convolution is direct.
TRAIN_CONV_ALGORITHM = "auto"


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  opt_state: Any
  loss_scale: LossScale


def build_arch(cfg: ml_collections.ConfigDict) -> Arch:
  """The architecture of a training config (stage 0: 4-channel value encoder, no SAM)."""
  a = architectures.get(cfg.arch)
  a.update(dict(cfg.arch_overrides))
  if cfg.stage == 0:
    a.value_in_channels = 4
    a.with_mem_compress = False
  return Arch.from_config(a)


def lr_schedule(cfg: ml_collections.ConfigDict) -> optax.Schedule:
  """MultiStepLR (gamma 0.1): update i (0-based) uses lr * 0.1^(#milestones <= i)."""
  return optax.piecewise_constant_schedule(cfg.lr, {int(m): 0.1 for m in cfg.lr_steps})


def make_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with coupled L2 weight decay (torch.optim.Adam(weight_decay=...)), optional clipping."""
  parts = []
  if cfg.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(cfg.grad_clip_norm))
  parts += [optax.add_decayed_weights(cfg.weight_decay), optax.scale_by_adam(),
            optax.scale_by_learning_rate(lr_schedule(cfg))]
  return optax.chain(*parts)


def make_mesh() -> Mesh:
  """A 1-D 'data' mesh over every device of every process."""
  return Mesh(np.asarray(jax.devices()), ("data",))


def loss_config(cfg: ml_collections.ConfigDict) -> LossConfig:
  guidance = () if cfg.stage == 0 else (cfg.lambda_f2, cfg.lambda_f4)
  return LossConfig(lambda_mc=cfg.lambda_mc, guidance_weights=guidance,
                    equal_frame_weights=cfg.equal_frame_weights,
                    detach_teacher=cfg.detach_teacher)


def keep_pixels(cfg: ml_collections.ConfigDict, step: int) -> int:
  """Bootstrapped-CE pixels kept at `step` (computed on the host in float64, as official)."""
  return losses.bootstrap_k(step, cfg.data.crop_size ** 2, cfg.start_warm, cfg.end_warm, cfg.top_p)


class Trainer:
  """Holds the jitted update for one config; `init_state` and `step` are its API."""

  def __init__(self, cfg: ml_collections.ConfigDict, mesh: Mesh | None = None):
    self.cfg = cfg
    self.arch = build_arch(cfg)
    dtype = {"bfloat16": jnp.bfloat16, "float16": jnp.float16}.get(cfg.dtype, jnp.float32)
    remat = cfg.get("remat", "none")
    # 'auto' on the CPU: Winograd with autodiff's backward for speed, or with the direct
    # convolution's gradients where a remat policy says memory matters (less memory).
    self.conv_algorithm = conv_algorithm.resolve(cfg.get("conv_algorithm", TRAIN_CONV_ALGORITHM),
                                                 jax.default_backend(),
                                                 memory_lean=remat != "none")
    network = RDEVOS(self.arch, dtype=dtype, conv_algorithm=self.conv_algorithm)
    self.forward = ClipForward(network, num_objects=1 if cfg.stage == 0 else 2,
                               sam_frames=() if cfg.stage == 0 else (2, 4), remat=remat)
    self.loss_cfg = loss_config(cfg)
    self.tx = make_optimizer(cfg)
    self.schedule = lr_schedule(cfg)
    self.mesh = mesh or make_mesh()
    self.replicated = NamedSharding(self.mesh, P())
    self.batch_sharding = NamedSharding(self.mesh, P("data"))
    self._step = jax.jit(self._update, donate_argnums=(0,),
                         out_shardings=(self.replicated, self.replicated))

  def init_state(self, params: Any) -> TrainState:
    scale = LossScale.create(dynamic=self.cfg.dtype == "float16",
                             init_scale=self.cfg.loss_scale_init,
                             growth_interval=self.cfg.loss_scale_growth_interval)
    state = TrainState(jnp.zeros((), jnp.int32), params, self.tx.init(params), scale)
    return jax.device_put(state, self.replicated)

  def _update(self, state: TrainState, batch_stats: Any, batch: dict,
              k_keep: jnp.ndarray) -> tuple[TrainState, dict]:
    def loss_fn(params):
      return clip_loss(self.forward, self.loss_cfg,
                       {"params": params, "batch_stats": batch_stats}, batch, k_keep)

    loss, metrics, grads = state.loss_scale.value_and_grad(loss_fn)(state.params)
    gnorm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(gnorm)
    skipped = ~finite & state.loss_scale.can_skip()  # a float16 overflow, not a failure
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = TrainState(state.step + (finite | skipped).astype(jnp.int32),
                           keep(params, state.params), keep(opt_state, state.opt_state),
                           state.loss_scale.update(finite))
    metrics = dict(metrics, grad_norm=gnorm, finite=finite, skipped=skipped,
                   loss_scale=state.loss_scale.scale, lr=self.schedule(state.step))
    return new_state, metrics

  def lower(self, state: Any, batch_stats: Any, batch: Any) -> Any:
    """`jax.jit(...).lower` of the update on abstract (ShapeDtypeStruct) or real arguments; the
    compiled step's `memory_analysis()` / `cost_analysis()` need no data."""
    return self._step.lower(state, batch_stats, batch, jax.ShapeDtypeStruct((), jnp.int32))

  def shard_batch(self, local_batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
    """This process's part of the global batch -> global arrays sharded over 'data'."""
    return {k: jax.make_array_from_process_local_data(self.batch_sharding, np.asarray(v))
            for k, v in local_batch.items()}

  def step(self, state: TrainState, batch_stats: Any, local_batch: dict[str, np.ndarray],
           step: int) -> tuple[TrainState, dict]:
    k = jnp.int32(keep_pixels(self.cfg, step))
    return self._step(state, batch_stats, self.shard_batch(local_batch), k)


def variables_of(state: TrainState, batch_stats: Any) -> dict:
  """Model variables ({'params', 'batch_stats'}) of a train state, as host numpy arrays."""
  return jax.tree_util.tree_map(np.asarray, {"params": state.params,
                                             "batch_stats": batch_stats})

