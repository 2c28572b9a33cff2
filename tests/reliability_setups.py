"""The pieces the bad-input cases (tests/reliability_cases.py) are built from: setups that put
earlier outputs or bad files into a case's folder, and the argument builders of each command.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from configs_helper import load_config
from reliability_harness import Env

# ---- setups: earlier outputs or bad files inside the case's folder ----

def earlier_segment(env: Env, work: Path) -> None:
  (work / "out" / "masks").mkdir(parents=True)
  (work / "out" / "masks" / "00000.png").write_bytes(env.mask.read_bytes())
  (work / "out" / "summary.json").write_text(json.dumps({"frames": 1}))


def earlier_model(env: Env, work: Path) -> None:
  shutil.copytree(env.model, work / "model")


def a_file(name: str) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    (work / name).parent.mkdir(parents=True, exist_ok=True)
    (work / name).write_text("an earlier file\n")
  return setup


def bad_pth(kind: str) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    path = work / "bad.pth"
    if kind == "random":
      path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
      path.write_bytes(b"")
    elif kind == "truncated":
      path.write_bytes(env.pth.read_bytes()[:5000])
    elif kind in ("wrong_keys", "wrong_shape"):
      import torch_zip_writer
      from rde_jax.convert import pth_reader
      sd = pth_reader.load_state_dict(env.pth)
      if kind == "wrong_keys":
        sd = {"fc.weight": np.zeros((2, 2), np.float32), "fc.bias": np.zeros(2, np.float32)}
      else:
        sd["key_comp.bias"] = np.zeros(3, np.float32)
      torch_zip_writer.save(sd, path)
    elif kind == "npz":
      path = work / "bad.npz"
      path.write_bytes(b"PK\x03\x04 not really a zip")
  return setup


def corrupt_frame(env: Env, work: Path) -> None:
  shutil.copytree(env.frames, work / "frames")
  f = work / "frames" / "00007.jpg"
  f.write_bytes(f.read_bytes()[:300])


def bad_mask(kind: str) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    from rde_jax.fileio import label_png as masks_io
    if kind == "empty":
      masks_io.write_label_png(work / "m.png", np.zeros((64, 96), np.uint8))
    elif kind == "corrupt":
      (work / "m.png").write_bytes(env.mask.read_bytes()[:40])
    elif kind == "size":
      masks_io.write_label_png(work / "m.png", np.ones((32, 48), np.uint8))
  return setup


def bad_model_json(env: Env, work: Path) -> None:
  shutil.copytree(env.model, work / "m")
  (work / "m" / "model.json").write_text("{not json")


def corrupt_result(env: Env, work: Path) -> None:
  shutil.copytree(env.results, work / "res")
  (work / "res" / "alpha" / "00002.png").write_bytes(b"\x89PNG junk")


def a_folder(name: str) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    (work / name).mkdir()
  return setup


def inside_out(name: str, what: str) -> Callable[[Env, Path], None]:
  """An earlier segment output in out/ that also holds an input (`what`: frames, mask, model)."""
  def setup(env: Env, work: Path) -> None:
    earlier_segment(env, work)
    src = {"frames": env.frames, "mask": env.mask, "model": env.model}[what]
    (shutil.copytree if src.is_dir() else shutil.copyfile)(src, work / "out" / name)
  return setup


def earlier_segment_with(name: str) -> Callable[[Env, Path], None]:
  """An earlier segment output holding a file of the user's (`name`, relative to out/)."""
  def setup(env: Env, work: Path) -> None:
    earlier_segment(env, work)
    (work / "out" / name).write_text("the user's own notes\n")
  return setup


def earlier_model_with(name: str, pth: bool = False) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    earlier_model(env, work)
    if pth:
      shutil.copyfile(env.pth, work / "model" / name)
    else:
      (work / "model" / name).write_text("the user's own notes\n")
  return setup


def bad_config(kind: str) -> Callable[[Env, Path], None]:
  def setup(env: Env, work: Path) -> None:
    text = {"syntax": "def get_config(:\n", "import": "import no_such_module_xyz\n"
            "def get_config():\n  return None\n"}[kind]
    (work / "bad.py").write_text(text)
  return setup


def a_lock(env: Env, work: Path) -> None:
  """WORKDIR/train.lock of a live run (pid 1 always exists) with a fresh heartbeat."""
  import socket
  import time
  (work / "train").mkdir()
  (work / "train" / "train.lock").write_text(json.dumps(
      {"host": socket.gethostname(), "pid": 1, "processes": 1, "started": time.time(),
       "heartbeat": time.time()}))


def trained_run(env: Env, work: Path) -> None:
  """A 2-step runlocal training run (checkpointed) in work/train, trained once per env."""
  src = env.root / "trained" / "train"
  if not (env.root / "trained" / "done").exists():
    from rde_jax.train import loop
    cfg = load_config("synthetic", eval__source="none", compilation_cache="")
    loop.train_and_evaluate(cfg, src)
    (env.root / "trained" / "done").write_text("")
  shutil.copytree(src, work / "train")


def model_missing(kind: str) -> Callable[[Env, Path], None]:
  """A copy of the model without its weights (`variables`), with damaged weights (`data`), a
  model.json of a newer format (`format`) or one declaring a huge architecture (`huge`)."""
  def setup(env: Env, work: Path) -> None:
    shutil.copytree(env.model, work / "m")
    if kind == "variables":
      shutil.rmtree(work / "m" / "variables")
    elif kind == "data":
      for d in (work / "m" / "variables").rglob("d"):
        if d.is_dir():
          shutil.rmtree(d)
    else:
      meta = json.loads((work / "m" / "model.json").read_text())
      if kind == "format":
        meta["format"] = "rde_jax.model/2"
      else:
        meta["arch"]["key_planes"] = [4096, 4096, 4096]
      (work / "m" / "model.json").write_text(json.dumps(meta))
  return setup


def a_gif(env: Env, work: Path) -> None:
  from PIL import Image
  frames = [Image.open(p).convert("RGB") for p in sorted(env.frames.glob("*.jpg"))]
  frames[0].save(work / "clip.gif", save_all=True, append_images=frames[1:], duration=40)


def bomb_pth(kind: str) -> Callable[[Env, Path], None]:
  """A tiny file declaring a huge tensor: a stride-0 .pth view or an .npz header."""
  def setup(env: Env, work: Path) -> None:
    if kind == "stride0":
      import torch_zip_writer as tw
      tw.save({"key_comp.weight": tw.Tensor(np.zeros(1, np.float32), (2**27,), (0,))},
              work / "bad.pth")
    else:
      import io
      import zipfile
      buf = io.BytesIO()
      np.lib.format.write_array_header_1_0(
          buf, {"descr": "<f4", "fortran_order": False, "shape": (2**40,)})
      with zipfile.ZipFile(work / "bad.npz", "w") as z:
        z.writestr("key_comp.weight.npy", buf.getvalue() + bytes(16))
  return setup


def nan_pth(env: Env, work: Path) -> None:
  import torch_zip_writer
  from rde_jax.convert import pth_reader
  sd = pth_reader.load_state_dict(env.pth)
  sd["key_comp.bias"] = np.full_like(sd["key_comp.bias"], np.nan)
  torch_zip_writer.save(sd, work / "bad.pth")


def mask_with(kind: str) -> Callable[[Env, Path], None]:
  """`void`: the clip's mask with object 2 drawn as 255; `aspect`: a 48x48 mask."""
  def setup(env: Env, work: Path) -> None:
    from PIL import Image
    from rde_jax.fileio import label_png as masks_io
    labels = np.asarray(Image.open(env.mask))
    if kind == "void":
      masks_io.write_label_png(work / "m.png", np.where(labels == 2, 255, labels).astype(np.uint8))
    else:
      masks_io.write_label_png(work / "m.png", np.asarray(
          Image.fromarray(labels).resize((48, 48), Image.NEAREST)))
  return setup


def summary_says(**want: object) -> Callable[[Env, Path], str | None]:
  """Checks fields of out/summary.json ('settings.chunk' for nested ones)."""
  def check(env: Env, work: Path) -> str | None:
    summary = json.loads((work / "out" / "summary.json").read_text())
    for key, value in want.items():
      got = summary
      for part in key.split("__"):
        got = got[part]
      if got != value:
        return f"summary {key.replace('__', '.')} is {got!r}, not {value!r}"
    return None
  return check


# ---- argument builders ----

def seg(*extra: str, video: str | None = None, mask: str | None = None,
        ckpt: str | None = None) -> Callable[[Env, Path], list[str]]:
  def args(env: Env, work: Path) -> list[str]:
    return [f"--checkpoint={ckpt.format(w=work) if ckpt else env.model}",
            f"--video={video.format(w=work) if video else env.frames}",
            f"--mask={mask.format(w=work) if mask else env.mask}", f"--out={work / 'out'}",
            "--top_k=20", "--overlay=false", "--progress=false", *extra]
  return args


def conv(inp: str, *extra: str) -> Callable[[Env, Path], list[str]]:
  def args(env: Env, work: Path) -> list[str]:
    return [f"--input={inp.format(w=work, pth=env.pth)}", *[e.format(w=work) for e in extra]]
  return args


def dav(*extra: str, results: str | None = None,
        davis: str | None = None) -> Callable[[Env, Path], list[str]]:
  def args(env: Env, work: Path) -> list[str]:
    return [f"--davis_path={davis.format(w=work) if davis else env.davis}",
            f"--results_path={results.format(w=work) if results else work / 'res'}",
            "--num_workers=1", *extra]
  return args


def copy_results(env: Env, work: Path) -> None:
  shutil.copytree(env.results, work / "res")


def ev(*extra: str, workdir: str = "{w}/ev",
       config: str = "configs/davis2017_val.py:runlocal") -> Callable[[Env, Path], list[str]]:
  def args(env: Env, work: Path) -> list[str]:
    return [f"--config={config.format(w=work)}", f"--config.checkpoint={env.model}",
            f"--config.dataset.root={env.davis}", f"--workdir={workdir.format(w=work)}",
            *[e.format(w=work) for e in extra]]
  return args


def tr(*extra: str, workdir: str = "{w}/train",
       config: str = "configs/synthetic.py:runlocal") -> Callable[[Env, Path], list[str]]:
  def args(env: Env, work: Path) -> list[str]:
    return [f"--config={config.format(w=work)}", "--config.eval.source=none",
            "--config.compilation_cache=", f"--workdir={workdir.format(w=work)}",
            *[e.format(w=work) for e in extra]]
  return args


def api(body: str) -> Callable[[Env, Path], list[str]]:
  """A Python snippet using the public API; prints `error: ...` and exits 1 on any exception."""
  def args(env: Env, work: Path) -> list[str]:
    code = (
        "import sys, numpy as np, rde_jax\n"
        "from PIL import Image\n"
        f"frames = [np.asarray(Image.open(p).convert('RGB')) for p in "
        f"sorted(__import__('glob').glob({str(env.frames)!r} + '/*.jpg'))]\n"
        f"mask = np.asarray(Image.open({str(env.mask)!r}))\n"
        "try:\n"
        + "".join(f"  {line}\n" for line in body.format(model=str(env.model), w=work).splitlines())
        + "except Exception as e:\n"
        "  print(f'error: {e}', file=sys.stderr); sys.exit(1)\n")
    return [code]
  return args


SEG_API = "m = rde_jax.load({model!r})\nm.segment(frames, mask, top_k=20, {kw})"
