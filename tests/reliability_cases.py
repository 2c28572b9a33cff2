"""The bad-input table of docs/reliability.md: one row per bad value or bad file, for the five
commands (segment, convert, score_davis, eval.py, train.py) and the Python API.

Each case names the command, its arguments (built from shared fixtures `env` and the case's own
folder `work`), an optional setup that puts an earlier output into `work` (which must survive),
and the regex its one-line error must match. tests/test_reliability.py runs the table in-process;
benchmarks/reliability_table.py runs it as subprocesses against any checkout (the before/after
table).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

COMMANDS = {  # command -> argv prefix after the interpreter
    "segment": ["-m", "rde_jax.segment"],
    "convert": ["-m", "rde_jax.convert"],
    "score_davis": ["-m", "rde_jax.score_davis"],
    "eval.py": ["eval.py"],
    "train.py": ["train.py"],
    "api": ["-c"],
}


@dataclasses.dataclass(frozen=True)
class Env:
  """Shared inputs: a tiny model, a 12-frame clip, a DAVIS tree and results, a tiny .pth."""
  root: Path

  @property
  def model(self) -> Path:
    return self.root / "model"

  @property
  def frames(self) -> Path:
    return self.root / "clip" / "frames"

  @property
  def mask(self) -> Path:
    return self.root / "clip" / "first.png"

  @property
  def davis(self) -> Path:
    return self.root / "davis"

  @property
  def results(self) -> Path:
    return self.root / "results"

  @property
  def pth(self) -> Path:
    return self.root / "tiny.pth"


def make_env(root: Path) -> Env:
  """Writes the shared inputs once (numpy/PIL only, plus the tiny model's orbax tree)."""
  import eval_fakes as F
  import torch_zip_writer
  from rde_jax import checkpoint, convert
  from rde_jax.fileio import label_png as masks_io
  from rde_jax.model.architectures import TINY
  from rde_jax.model.network import init_variables
  env = Env(Path(root))
  if (env.root / "ready").exists():
    return env
  arch = TINY
  variables = init_variables(arch, 0)
  checkpoint.save_model(env.model, variables, arch, source="tests")
  torch_zip_writer.save(convert.to_torch_state_dict(variables), env.pth)
  frames, labels = F.video(7, 12)
  for t, f in enumerate(frames):
    F.save_jpeg(env.frames / f"{t:05d}.jpg", f)
  masks_io.write_label_png(env.mask, labels[0])
  gt = F.write_davis(env.davis, names=("alpha", "bravo"), num_frames=5)
  for name, seq in gt.items():
    for t in range(len(seq)):
      masks_io.write_label_png(env.results / name / f"{t:05d}.png", seq[t])
  (env.root / "ready").write_text("")
  return env


@dataclasses.dataclass(frozen=True)
class Case:
  """`expect='error'`: refused with one `error:` line matching `match`, nothing changed.
  `expect='success'`: exit 0, no traceback, `match` found in stderr (a note), and `check(env,
  work)` (None: fine, else what is wrong) holds for the outputs. `slow`: trains or segments."""
  id: str
  command: str
  args: Callable[[Env, Path], list[str]]
  match: str  # regex the error line (or, for a success, stderr) must match
  setup: Callable[[Env, Path], None] | None = None
  expect: str = "error"
  check: Callable[[Env, Path], str | None] | None = None
  slow: bool = False
  may_leave: str = ""  # regex of paths a refused run may leave (a failed training run's log)


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
    import importlib.util
    from rde_jax.train import loop
    spec = importlib.util.spec_from_file_location(
        "synthetic_cfg", Path(__file__).resolve().parents[1] / "configs" / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = module.get_config("runlocal")
    cfg.eval.source, cfg.compilation_cache = "none", ""
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

CASES = [
    # segment: values
    Case("segment max_side -5", "segment", seg("--max_side=-5"), r"--max_side.*>= 0"),
    Case("segment max_side 8", "segment", seg("--max_side=8"), r"--max_side.*0 .*or >= 16"),
    Case("segment mem_every 0", "segment", seg("--mem_every=0"), r"--mem_every.*>= 1"),
    Case("segment top_k 0", "segment", seg("--top_k=0"), r"--top_k.*>= 1"),
    Case("segment chunk 0", "segment", seg("--chunk=0"), r"--chunk.*>= 1"),
    Case("segment start_frame -1", "segment", seg("--start_frame=-1"), r"--start_frame.*(>= 0|outside)"),
    Case("segment start_frame 99", "segment", seg("--start_frame=99"),
         r"--start_frame 99 is outside the video \(12 frames\)"),
    Case("segment arch bogus", "segment", seg("--arch=bogus"), r"--arch.*'official', 'tiny'"),
    Case("segment arch mismatch", "segment", seg("--arch=official"),
         r"architecture.*'tiny'.*'official'.*key_blocks"),
    Case("segment matmul_precision bogus", "segment", seg("--matmul_precision=bogus"),
         r"--matmul_precision.*'highest'"),
    Case("segment dtype float64", "segment", seg("--dtype=float64"), r"--dtype.*float32"),
    Case("segment conv_algorithm bogus", "segment", seg("--conv_algorithm=fast"),
         r"--conv_algorithm.*winograd"),
    # segment: paths
    Case("segment out is a file", "segment", seg(), r"--out .*out is a file", a_file("out")),
    Case("segment out holds results", "segment", seg(), r"--out .*already holds segment results.*--overwrite",
         earlier_segment),
    Case("segment out not a segment output", "segment", seg(),
         r"--out .*not an earlier output", a_file("out/keep.txt")),
    Case("segment video missing", "segment", seg(video="{w}/nope.mp4"),
         r"nope\.mp4: no such file"),
    Case("segment video empty folder", "segment", seg(video="{w}/empty"), r"no \.jpg",
         a_folder("empty")),
    Case("segment corrupt frame", "segment", seg(video="{w}/frames"),
         r"00007\.jpg: unreadable or corrupt", corrupt_frame),
    Case("segment mask missing", "segment", seg(mask="{w}/nope.png"), r"nope\.png: cannot read"),
    Case("segment mask corrupt", "segment", seg(mask="{w}/m.png"),
         r"m\.png: unreadable or corrupt", bad_mask("corrupt")),
    Case("segment mask empty", "segment", seg(mask="{w}/m.png"), r"m\.png: the mask holds no",
         bad_mask("empty")),
    Case("segment mask size", "segment", seg(mask="{w}/m.png"), r"m\.png: mask size 48x32",
         bad_mask("size")),
    Case("segment checkpoint missing", "segment", seg(ckpt="{w}/nope"), r"nope: no model\.json"),
    Case("segment checkpoint bad model.json", "segment", seg(ckpt="{w}/m"),
         r"model\.json: unreadable model description", bad_model_json),
    # Python API
    Case("api max_side -5", "api", api(SEG_API.replace("{kw}", "max_side=-5")),
         r"max_side.*>= 0"),
    Case("api mem_every 0", "api", api(SEG_API.replace("{kw}", "mem_every=0")),
         r"mem_every.*>= 1"),
    Case("api top_k 0", "api", api(SEG_API.replace("{kw}", "top_k=0").replace("top_k=20, ", "")),
         r"top_k.*>= 1"),
    Case("api chunk 0", "api", api(SEG_API.replace("{kw}", "chunk=0")), r"chunk.*>= 1"),
    Case("api dtype float64", "api", api(SEG_API.replace("{kw}", "dtype='float64'")),
         r"dtype.*'float32', 'bfloat16'"),
    Case("api memory_mode bogus", "api", api(SEG_API.replace("{kw}", "memory_mode='bogus'")),
         r"memory_mode.*'two-frames-compress'"),
    Case("api load arch bogus", "api", api("rde_jax.load({model!r}, arch='bogus')"),
         r"arch.*'official', 'tiny'"),
    # convert
    Case("convert random bytes", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: ", bad_pth("random")),
    Case("convert empty file", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: ", bad_pth("empty")),
    Case("convert truncated", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: ", bad_pth("truncated")),
    Case("convert wrong keys", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: .*not an RDE-VOS", bad_pth("wrong_keys")),
    Case("convert wrong shape", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: .*wrong shape \(1\): key_comp\.bias", bad_pth("wrong_shape")),
    Case("convert input missing", "convert", conv("{w}/nope.pth", "--output={w}/o"),
         r"nope\.pth: no such file"),
    Case("convert bad npz", "convert", conv("{w}/bad.npz", "--output={w}/o"), r"bad\.npz: ",
         bad_pth("npz")),
    Case("convert output is a file", "convert", conv("{pth}", "--output={w}/o"),
         r"--output .*o is a file", a_file("o")),
    Case("convert output exists", "convert", conv("{pth}", "--output={w}/model"),
         r"--output .*model already holds a model.*--overwrite", earlier_model),
    # score_davis (DAVIS J&F of a results folder)
    Case("score_davis davis_path missing", "score_davis", dav(davis="{w}/nope"), r"nope",
         copy_results),
    Case("score_davis results missing", "score_davis", dav(results="{w}/nope"), r"nope"),
    Case("score_davis results is a file", "score_davis", dav(results="{w}/r"), r"--results_path.*r is a file", a_file("r")),
    Case("score_davis unknown set", "score_davis", dav("--set=bogus"), r"bogus", copy_results),
    Case("score_davis num_workers -1", "score_davis", dav("--num_workers=-1"), r"--num_workers.*>= 0",
         copy_results),
    Case("score_davis corrupt result", "score_davis", dav(), r"00002\.png: ", corrupt_result),
    # eval.py
    Case("eval.py mem_every 0", "eval.py", ev("--config.mem_every=0"), r"config\.mem_every.*>= 1"),
    Case("eval.py unknown field", "eval.py", ev("--config.bogus=1"), r"--config\.bogus.*no such"),
    Case("eval.py unknown nested field", "eval.py", ev("--config.dataset.bogus=1"),
         r"--config\.dataset\.bogus.*no such"),
    Case("eval.py misspelt field", "eval.py", ev("--config.mem_ever=1"),
         r"--config\.mem_ever.*no such.*did you mean --config\.mem_every"),
    Case("eval.py checkpoint missing", "eval.py", ev("--config.checkpoint={w}/nope"),
         r"nope: no model\.json"),
    Case("eval.py dataset root missing", "eval.py", ev("--config.dataset.root={w}/nope"),
         r"nope"),
    Case("eval.py workdir is a file", "eval.py", ev(workdir="{w}/f"), r"--workdir .*f is a file",
         a_file("f")),
    Case("eval.py dtype float64", "eval.py", ev("--config.dtype=float64"), r"config\.dtype"),
    Case("eval.py matmul_precision bogus", "eval.py", ev("--config.matmul_precision=bogus"),
         r"config\.matmul_precision"),
    Case("eval.py conv_algorithm bogus", "eval.py", ev("--config.conv_algorithm=fast"),
         r"config\.conv_algorithm.*'winograd'"),
    Case("eval.py arch bogus", "eval.py", ev("--config.arch=bogus"), r"config\.arch.*'tiny'"),
    Case("eval.py arch mismatch", "eval.py", ev("--config.arch=official"),
         r"architecture.*'tiny'.*'official'.*key_blocks"),
    Case("eval.py dataset kind bogus", "eval.py", ev("--config.dataset.kind=bogus"),
         r"config\.dataset\.kind"),
    Case("eval.py top_k type", "eval.py", ev("--config.top_k=abc"), r"--config\.top_k"),
    # train.py
    Case("train.py lr -0.001", "train.py", tr("--config.lr=-0.001"), r"config\.lr.*> 0"),
    Case("train.py num_steps -5", "train.py", tr("--config.num_steps=-5"),
         r"config\.num_steps.*>= 1"),
    Case("train.py batch_size 0", "train.py", tr("--config.batch_size=0"),
         r"config\.batch_size.*>= 1"),
    Case("train.py unknown source", "train.py", tr("--config.data.sources=bogus"),
         r"config\.data\.sources.*bogus"),
    Case("train.py unknown arch", "train.py", tr("--config.arch=bogus"), r"config\.arch.*'tiny'"),
    Case("train.py unknown field", "train.py", tr("--config.bogus=1"), r"--config\.bogus.*no such"),
    Case("train.py workdir is a file", "train.py", tr(workdir="{w}/f"), r"--workdir .*f is a file",
         a_file("f")),
    Case("train.py eval source bogus", "train.py", tr("--config.eval.source=bogus"),
         r"config\.eval\.source"),
    Case("train.py dtype float64", "train.py", tr("--config.dtype=float64"), r"config\.dtype"),
    Case("train.py log_every 0", "train.py", tr("--config.log_every=0"),
         r"config\.log_every.*>= 1"),
    Case("train.py checkpoint_every 0", "train.py", tr("--config.checkpoint_every=0"),
         r"config\.checkpoint_every.*>= 1"),
    Case("train.py init checkpoint missing", "train.py", tr("--config.init.checkpoint={w}/nope"),
         r"config\.init\.checkpoint.*nope"),
    Case("train.py stage 7", "train.py", tr("--config.stage=7"), r"config\.stage.*0, 1, 2, 3"),
    Case("train.py crop_size 0", "train.py", tr("--config.data.crop_size=0"),
         r"config\.data\.crop_size"),
    Case("train.py davis not built", "train.py",
         tr("--config.data.sources=davis", "--config.data.tfds_dir={w}/tfds"),
         r"config\.data.*davis_vos/2017 is not built", a_folder("tfds")),
    Case("train.py config file missing", "train.py", tr(config="configs/nope.py"),
         r"--config: configs/nope\.py: no such file"),
    Case("train.py config variant bogus", "train.py", tr(config="configs/synthetic.py:bogus"),
         r"--config=configs/synthetic\.py:bogus.*unknown variant 'bogus'"),
    Case("train.py unknown nested field", "train.py", tr("--config.data.bogus=1"),
         r"--config\.data\.bogus.*no such"),
]


ISSUE_21 = [
    # 1. Data loss: only what we wrote is replaced; an input inside the output never is.
    Case("segment video inside out", "segment",
         seg("--overwrite", video="{w}/out/frames"), r"--video .*frames is inside --out",
         inside_out("frames", "frames")),
    Case("segment mask inside out", "segment", seg("--overwrite", mask="{w}/out/first.png"),
         r"--mask .*first\.png is inside --out", inside_out("first.png", "mask")),
    Case("segment checkpoint inside out", "segment", seg("--overwrite", ckpt="{w}/out/model"),
         r"--checkpoint .*model is inside --out", inside_out("model", "model")),
    Case("segment user file in out", "segment", seg("--overwrite"),
         r"--out .*holds notes\.txt, which rde_jax did not write",
         earlier_segment_with("notes.txt")),
    Case("segment user file in out/masks", "segment", seg("--overwrite"),
         r"--out .*holds masks/mine\.txt, which rde_jax did not write",
         earlier_segment_with("masks/mine.txt")),
    Case("convert input inside output", "convert",
         conv("{w}/model/tiny.pth", "--output={w}/model", "--overwrite"),
         r"--input .*tiny\.pth is inside --output", earlier_model_with("tiny.pth", pth=True)),
    Case("convert user file in output", "convert",
         conv("{pth}", "--output={w}/model", "--overwrite"),
         r"--output .*holds notes\.txt, which rde_jax did not write",
         earlier_model_with("notes.txt")),
    # 2. One run per workdir; no silent resume with another config.
    Case("train.py workdir locked", "train.py", tr(),
         r"--workdir .* is in use by another training run \(host .*, pid 1", a_lock),
    Case("train.py resume with another lr", "train.py", tr("--config.lr=0.005"),
         r"config\.lr is 0\.005 but the run being resumed .* used 0\.001", trained_run,
         slow=True),
    Case("train.py resume with another seed", "train.py", tr("--config.seed=7"),
         r"config\.seed is 7 but the run being resumed", trained_run, slow=True),
    # 4. Training fields: a non-finite number is never valid.
    Case("train.py lr inf", "train.py", tr("--config.lr=inf"), r"config\.lr must be a finite"),
    Case("train.py lambda_mc inf", "train.py", tr("--config.lambda_mc=inf"),
         r"config\.lambda_mc must be a finite"),
    Case("train.py weight_decay nan", "train.py", tr("--config.weight_decay=nan"),
         r"config\.weight_decay must be a finite"),
    Case("train.py seed -1", "train.py", tr("--config.seed=-1"), r"config\.seed.*>= 0"),
    Case("train.py loss_scale_init 0", "train.py", tr("--config.loss_scale_init=0.0"),
         r"config\.loss_scale_init must be > 0"),
    Case("train.py loss_scale_growth_interval 0", "train.py",
         tr("--config.loss_scale_growth_interval=0"),
         r"config\.loss_scale_growth_interval.*>= 1"),
    # 5. Library failures as one line.
    Case("train.py multihost no coordinator", "train.py", tr("--multihost"),
         r"--multihost: jax\.distributed\.initialize failed"),
    Case("train.py multihost num_processes 0", "train.py",
         tr("--multihost", "--num_processes=0"), r"--num_processes.*>= 1"),
    Case("eval.py multihost process_id 2 of 2", "eval.py",
         ev("--multihost", "--num_processes=2", "--process_id=2"),
         r"--process_id must be < --num_processes \(2\)"),
    Case("eval.py multihost address without port", "eval.py",
         ev("--multihost", "--coordinator_address=localhost"),
         r"--coordinator_address must be HOST:PORT"),
    Case("train.py config syntax error", "train.py", tr(config="{w}/bad.py"),
         r"--config: .*bad\.py: cannot load it \(SyntaxError", bad_config("syntax")),
    Case("eval.py config missing module", "eval.py", ev(config="{w}/bad.py"),
         r"--config: .*bad\.py: cannot load it \(ModuleNotFoundError", bad_config("import")),
    Case("segment model without variables", "segment", seg(ckpt="{w}/m"),
         r"m/variables: no such folder", model_missing("variables")),
    Case("segment model with damaged weights", "segment", seg(ckpt="{w}/m"),
         r"m/variables: cannot restore the weights", model_missing("data")),
    # 6. Single cases.
    Case("segment start_frame = GIF length", "segment",
         seg("--start_frame=12", video="{w}/clip.gif"), r"--start_frame 12 is outside the video",
         a_gif),
    Case("segment chunk 2000 on 12 frames", "segment", seg("--chunk=2000"), r"",
         expect="success", check=summary_says(settings__chunk=11), slow=True),
    Case("train.py NaN stop", "train.py", tr("--config.lr=1e30", "--config.num_steps=3"),
         r"step \d+: non-finite loss", slow=True,
         may_leave=r"/train(/checkpoints|/metrics\.jsonl|/run_config\.json)?$"),
    # 7. Sizes read from files are checked before allocating.
    Case("convert stride-0 view of 2**27 elements", "convert",
         conv("{w}/bad.pth", "--output={w}/o"), r"bad\.pth: .*declares 134217728 elements",
         bomb_pth("stride0")),
    Case("convert npz declaring 2**40 elements", "convert",
         conv("{w}/bad.npz", "--output={w}/o"), r"bad\.npz: .*refusing to allocate",
         bomb_pth("npz")),
    Case("segment model.json huge architecture", "segment", seg(ckpt="{w}/m"),
         r"model\.json declares [\d,]+ bytes of weights", model_missing("huge")),
    # 8. Rough edges.
    Case("segment model.json newer format", "segment", seg(ckpt="{w}/m"),
         r"model\.json: model format 'rde_jax\.model/2'", model_missing("format")),
    Case("convert NaN state dict", "convert", conv("{w}/bad.pth", "--output={w}/o"),
         r"bad\.pth: state dict holds NaN or infinite values in 1 tensors: key_comp\.bias",
         nan_pth),
    Case("segment mask 255 is void", "segment", seg(mask="{w}/m.png"),
         r"255 are void", mask_with("void"), expect="success",
         check=summary_says(objects=[1]), slow=True),
    Case("segment resize_mask aspect note", "segment", seg("--resize_mask", mask="{w}/m.png"),
         r"another aspect ratio than the frames", mask_with("aspect"), expect="success",
         slow=True),
]
CASES += ISSUE_21


def snapshot(*folders: Path) -> dict[str, str]:
  """{relative path: sha1 of the bytes ('dir' for folders)} of everything under `folders`."""
  out = {}
  for folder in folders:
    for dirpath, dirnames, filenames in os.walk(folder):
      for d in dirnames:
        out[os.path.join(dirpath, d)] = "dir"
      for f in filenames:
        p = os.path.join(dirpath, f)
        out[p] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
  return out


def judge(case: Case, rc: int, stderr: str, before: dict, after: dict, env: Env | None = None,
          work: Path | None = None) -> str:
  """'ok' or the list of what went wrong (exit 0, traceback, leftovers, changed outputs...)."""
  import re
  if case.expect == "success":
    return _judge_success(case, rc, stderr, env, work)
  problems = []
  if rc == 0:
    problems.append("exit 0")
  if "Traceback" in stderr:
    problems.append(f"traceback ({len(stderr.splitlines())} lines)")
  lines = stderr.splitlines()
  errors = [l for l in lines if l.startswith(("error: ", "FATAL Flags parsing error: "))]
  hints = [l for l in lines if l.startswith("hint: ")]
  if len(errors) != 1:
    problems.append(f"{len(errors)} error lines")
  elif not re.search(case.match, " ".join(errors + hints)):
    problems.append(f"unclear: {errors[0][:100]!r}")
  added = sorted(a for a in set(after) - set(before)
                 if not (case.may_leave and re.search(case.may_leave, a)))
  removed = sorted(set(before) - set(after))
  changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
  if added:
    problems.append(f"left behind: {', '.join(os.path.basename(a) for a in added[:3])}")
  if removed or changed:
    problems.append("earlier output changed")
  return "ok" if not problems else "; ".join(problems)


def _judge_success(case: Case, rc: int, stderr: str, env: Env | None, work: Path | None) -> str:
  import re
  problems = []
  if rc != 0:
    problems.append(f"exit {rc}")
  if "Traceback" in stderr:
    problems.append(f"traceback ({len(stderr.splitlines())} lines)")
  if not re.search(case.match, stderr):
    problems.append("no note")
  if not problems and case.check is not None and env is not None:
    wrong = case.check(env, work)
    if wrong:
      problems.append(wrong)
  return "ok" if not problems else "; ".join(problems)
