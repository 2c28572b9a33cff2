"""The official training forward on a clip: STM branch and SAM (RDE) branch side by side.

For frames t = 1 .. T-1 (one unrolled step each, constant-size carry):
  * STM branch: read the growing bank {k_0..k_{t-1}} (preallocated, masked) -> mask m_t, readout;
    the next value v_t = Enc_v(F_t, m_t) comes from this branch (soft, not detached).
  * RDE recurrence: rde_1 = (k_0, v_ref); rde_t = SAM-compress([rde_{t-1}; (k_{t-1}, v_{t-1})]).
  * SAM branch, on `sam_frames` only (official: 2 and 4): read rde_t alone (T=1); its logits
    replace the STM logits for the CE and its readout is distilled towards the STM readout.
This reproduces the official stage 1-3 training step (`model/model.py`, the network of
`model/network.py RDE_VOS`); with `sam_frames=()` and one object it is
the stage-0 step. Layout: batch dicts of NHWC arrays as made by `rde_jax.data.pipeline`.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp

from rde_jax.model import imagenet, memory_read
from rde_jax.model.network import RDEVOS
from rde_jax.train import remat as remat_lib


class ClipForward:
  """Callable (variables, batch) -> outputs dict; static settings fixed at construction.

  Outputs: logits (B,S,O+1,H,W) log-odds of frames 1..S (a SAM frame's from its SAM read),
  masks (B,S,O,H,W), value_ref / value_gt (B,O,h,w,Cv), and readout_stm / readout_sam: a tuple
  with one (B,O,h,w,2Cv) array per SAM frame, in `sam_frames` order."""

  def __init__(self, model: RDEVOS, *, num_objects: int, sam_frames: Sequence[int] = (2, 4),
               remat: str = "none"):
    """The (short) clip is unrolled with static frame indices, so XLA sees the whole clip (on
    CPU its backward ran ~3x faster than a rolled loop with traced conds). `remat`: a policy
    of rde_jax/train/remat.py; with one, the key encoder runs frame by frame (each frame its own
    checkpoint) instead of once over the clip."""
    self.model = model
    self.num_objects = num_objects
    self.sam_frames = tuple(sam_frames)
    self.remat = remat
    remat_lib.parts(remat)  # checks the name

  def _apply(self, variables: Any, *args: Any, method: Any, part: str = "") -> Any:
    fn = lambda v, *a: self.model.apply(v, *a, method=method)
    return remat_lib.wrap(fn, self.remat, part)(variables, *args)

  def _encode_keys(self, variables: Any, rgb: jnp.ndarray) -> tuple[list[dict], jnp.ndarray]:
    """rgb (B,T,H,W,3) -> (per frame t: key features {k16, qv16, f16, f8, f4} each (B,...),
    all frames' k16 (B,T,h,w,Ck) for the memory bank).

    Without a remat policy one encoder call over the B*T frames (fastest); with one, one
    rematerialised call per frame in a loop (the memory setting, measured in
    benchmarks/RESULTS_training.md, session 6)."""
    b, t_len = rgb.shape[:2]
    if self.remat == "none":
      feats = self._apply(variables, rgb.reshape(b * t_len, *rgb.shape[2:]),
                          method=RDEVOS.encode_key)
      feats = {k: v.reshape(b, t_len, *v.shape[1:]) for k, v in feats.items()}
      return [{k: v[:, t] for k, v in feats.items()} for t in range(t_len)], feats["k16"]
    # One rematerialised encoder call per frame inside a loop (`lax.map`): the backward is a loop
    # too, one frame's encoder activations alive at a time (unrolled, XLA ran the five frames'
    # encoder backwards side by side).
    encode = lambda frame: self._apply(variables, frame, method=RDEVOS.encode_key, part="key")
    stacked = jax.lax.map(encode, jnp.moveaxis(rgb, 1, 0))  # each (T,B,...)
    per_frame = [{k: v[t] for k, v in stacked.items()} for t in range(t_len)]
    return per_frame, jnp.moveaxis(stacked["k16"], 0, 1)

  def _value(self, variables: Any, image: jnp.ndarray, f16: jnp.ndarray,
             masks: jnp.ndarray) -> jnp.ndarray:
    """image (B,H,W,3), f16 (B,h,w,Cf), masks (B,O,H,W) -> values (B,O,h,w,Cv).

    Object o sees [RGB, mask_o, sum of the other masks] (stage 0: [RGB, mask])."""
    b, o = masks.shape[:2]
    own = masks.reshape(b * o, *masks.shape[2:], 1)
    others = (jnp.sum(masks, axis=1, keepdims=True) - masks).reshape(own.shape)
    if self.model.arch.value_in_channels == 4:
      others = None
    # The image and f16 stay one per frame: the value encoder convolves their share of its
    # stem and fuser once and repeats it over the objects (`Conv2DParts`), not O times.
    v = self._apply(variables, image, f16, own, others, method=RDEVOS.encode_value, part="value")
    return v.reshape(b, o, *v.shape[1:])

  def _segment(self, variables: Any, feats: dict, mk: jnp.ndarray, mv: jnp.ndarray,
               valid: jnp.ndarray | None, selector: jnp.ndarray):
    """Read + decode + aggregate. Returns log-odds (B,O+1,H,W), masks (B,O,H,W), readouts
    (B,O,h,w,2Cv) = cat[memory readout, qv16] (the decoder input)."""
    b, h, w, ck = feats["k16"].shape
    o = mv.shape[1]
    ro = memory_read.softmax_readout(mk, mv, feats["k16"].reshape(b, h * w, ck), valid)
    ro = ro.reshape(b, o, h, w, -1)
    qv16 = feats["qv16"].astype(ro.dtype)
    dec_in = jnp.concatenate([ro, jnp.broadcast_to(qv16[:, None], ro.shape[:4] + qv16.shape[-1:])],
                             axis=-1)
    # qv16, f8, f4 stay one per frame: the decoder convolves them once and repeats the result
    # over the objects (`Conv2DParts`, `UpsampleBlock`), instead of convolving O copies.
    logits = self._apply(variables, ro.reshape(b * o, h, w, -1), qv16, feats["f8"], feats["f4"],
                         method=RDEVOS.decode, part="decode")
    probs = jax.nn.sigmoid(logits[..., 0]).reshape(b, o, *logits.shape[1:3])
    probs = probs * selector[:, :, None, None]
    log_odds, prob = memory_read.soft_aggregate(probs, axis=1)
    return log_odds, prob[:, 1:], dec_in

  def __call__(self, variables: Any, batch: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    rgb = frames_in(batch["rgb"])
    b, t_len = rgb.shape[:2]
    o = self.num_objects
    feats, k16_all = self._encode_keys(variables, rgb)
    if o == 2:
      gt0 = jnp.stack([batch["gt"][:, 0], batch["sec_gt"][:, 0]], 1)
      pgt = jnp.stack([batch["pgt"], batch["sec_pgt"]], 1)
      selector = batch["selector"]
    else:
      gt0, pgt = batch["gt"][:, :1], batch["pgt"][:, None]
      selector = jnp.ones((b, 1), jnp.float32)
    v_ref = self._value(variables, rgb[:, 0], feats[0]["f16"], pgt)
    v_gt = self._value(variables, rgb[:, 0], feats[0]["f16"], gt0)

    hw = k16_all.shape[2:4]
    keys = k16_all.reshape(b, t_len, -1, k16_all.shape[-1])  # (B,T,hw,Ck)
    bank_v = jnp.zeros((b, o, t_len) + v_ref.shape[2:], v_ref.dtype).at[:, :, 0].set(v_ref)
    carry = {"bank_v": bank_v, "rde_k": feats[0]["k16"], "rde_v": v_ref,
             "prev_v": v_ref}
    use_sam = bool(self.sam_frames)

    def step(c: dict, t: int) -> tuple[dict, dict]:
      f = feats[t]
      valid = jnp.repeat(jnp.arange(t_len) < t, hw[0] * hw[1])
      mk = keys.reshape(b, -1, keys.shape[-1])
      mv = c["bank_v"].reshape(b, o, t_len * hw[0] * hw[1], -1)
      logits, masks, r_stm = self._segment(variables, f, mk, mv, valid, selector)
      out = {"logits": logits, "readout_stm": r_stm}
      if use_sam:
        def compress(cc):
          k_prev = feats[t - 1]["k16"]
          key2 = jnp.stack([cc["rde_k"], k_prev], 1)
          val2 = jnp.stack([cc["rde_v"], cc["prev_v"]], 2).reshape(b * o, 2, *hw, -1)
          nk, nv = self._apply(variables, key2, val2, method=RDEVOS.compress, part="compress")
          return nk[:, 0], nv[:, 0].reshape(b, o, *hw, -1)
        rde_k, rde_v = compress(c) if t >= 2 else (c["rde_k"], c["rde_v"])

        def sam_read(_):
          mk1 = rde_k.reshape(b, -1, rde_k.shape[-1])
          mv1 = rde_v.reshape(b, o, -1, rde_v.shape[-1])
          lg, _, r = self._segment(variables, f, mk1, mv1, None, selector)
          return lg, r
        if t in self.sam_frames:  # its SAM logits replace the STM ones in the CE
          out["logits"], out["readout_sam"] = sam_read(None)
      else:
        rde_k, rde_v = c["rde_k"], c["rde_v"]
      # The last frame's value is never used.
      v_t = (self._value(variables, rgb[:, t], f["f16"], masks) if t < t_len - 1
             else jnp.zeros_like(c["prev_v"]))
      out["masks"] = masks
      new_bank = c["bank_v"].at[:, :, t].set(v_t)
      return {"bank_v": new_bank, "rde_k": rde_k, "rde_v": rde_v, "prev_v": v_t}, out

    per_frame = []
    for t in range(1, t_len):
      carry, out = step(carry, t)
      per_frame.append(out)
    outs = {k: jnp.stack([o[k] for o in per_frame], 1) for k in ("logits", "masks")}
    # The readouts only of the SAM frames (the distillation's), one array each, not stacked:
    # slicing a stack of every frame's readouts makes each gradient a padded copy of the stack.
    result = {"logits": outs["logits"], "masks": outs["masks"], "value_ref": v_ref, "value_gt": v_gt,
              "readout_stm": tuple(per_frame[t - 1]["readout_stm"] for t in self.sam_frames),
              "readout_sam": tuple(per_frame[t - 1]["readout_sam"] for t in self.sam_frames)}
    return result


def frames_in(rgb: jnp.ndarray) -> jnp.ndarray:
  """rgb (B,T,H,W,3): uint8 frames are ImageNet-normalised here, inside the jitted step (a
  quarter of the bytes in and no float32 copy on the host); float frames pass unchanged."""
  return imagenet.normalize(rgb) if rgb.dtype == jnp.uint8 else rgb
