"""The output-folder rule (issue 21): a folder replaced as a whole is replaced only if everything
in it was written by us (its manifest), and an input inside the output is always refused."""

import json

import pytest
from configs_helper import load_config

from rde_jax import validate
from rde_jax.errors import UserError
from rde_jax.fileio import atomic_dir, manifest


def _write(target, files):
  with atomic_dir.replacing(target) as stage:
    for name, text in files.items():
      (stage / name).parent.mkdir(parents=True, exist_ok=True)
      (stage / name).write_text(text)


def test_a_swapped_folder_lists_what_was_written(tmp_path):
  _write(tmp_path / "out", {"a.txt": "1", "sub/b.png": "2"})
  listed = json.loads((tmp_path / "out" / manifest.NAME).read_text())["entries"]
  assert listed == ["a.txt", "sub/", "sub/b.png"]
  assert manifest.first_foreign(tmp_path / "out") is None
  _write(tmp_path / "out", {"c.txt": "3"})  # ours only: replaced
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [manifest.NAME, "c.txt"]


@pytest.mark.parametrize("foreign", ["mine.txt", "sub/mine.txt", "zz/"])
def test_a_foreign_entry_blocks_the_replacement_and_survives(tmp_path, foreign):
  _write(tmp_path / "out", {"a.txt": "1", "sub/b.png": "2"})
  path = tmp_path / "out" / foreign
  path.mkdir() if foreign.endswith("/") else path.write_text("the user's")
  with pytest.raises(manifest.ForeignFileError, match=f"holds {foreign.rstrip('/')}, which "
                     "rde_jax did not write"):
    _write(tmp_path / "out", {"new.txt": "x"})
  assert path.exists() and (tmp_path / "out" / "a.txt").read_text() == "1"
  assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left


def test_a_file_dropped_in_during_the_work_is_caught_before_the_swap(tmp_path):
  _write(tmp_path / "out", {"a.txt": "1"})
  with pytest.raises(manifest.ForeignFileError, match="late.txt"):
    with atomic_dir.replacing(tmp_path / "out") as stage:
      (stage / "b.txt").write_text("2")
      (tmp_path / "out" / "late.txt").write_text("the user's")
  assert (tmp_path / "out" / "late.txt").exists() and (tmp_path / "out" / "a.txt").exists()


def test_outputs_written_before_manifests_are_judged_by_their_layout(tmp_path):
  old = tmp_path / "model"
  (old / "variables" / "d").mkdir(parents=True)
  (old / "model.json").write_text("{}")
  (old / "variables" / "d" / "x").write_text("w")
  layout = ("model.json", "variables/", "variables/**")
  assert manifest.first_foreign(old, layout) is None
  (old / "notes.txt").write_text("mine")
  assert manifest.first_foreign(old, layout) == "notes.txt"
  (old / "notes.txt").unlink()
  (old / "model.json").unlink()
  (old / "model.json").mkdir()  # a folder where the layout has a file
  assert manifest.first_foreign(old, layout) == "model.json/"


def test_output_dir_refuses_inputs_inside_and_foreign_files(tmp_path):
  out = tmp_path / "out"
  _write(out, {"summary.json": "{}"})
  (out / "clip.mp4").write_text("video")
  with pytest.raises(UserError, match=r"--video .*clip\.mp4 is inside --out"):
    validate.output_dir("--out", out, overwrite=True, marker="summary.json", what="results",
                        inputs=[("--video", out / "clip.mp4")])
  with pytest.raises(UserError, match=r"--out .* holds clip\.mp4, which rde_jax did not write"):
    validate.output_dir("--out", out, overwrite=True, marker="summary.json", what="results")
  (out / "clip.mp4").unlink()
  with pytest.raises(UserError, match=r"already holds results"):  # ours: needs --overwrite
    validate.output_dir("--out", out, overwrite=False, marker="summary.json", what="results")
  assert validate.output_dir("--out", out, overwrite=True, marker="summary.json",
                             what="results") == out
  link = tmp_path / "link"
  link.symlink_to(out)  # the same folder by another name is still inside
  with pytest.raises(UserError, match="is inside"):
    validate.output_dir("--out", link, overwrite=True, marker="summary.json", what="results",
                        inputs=[("--mask", out / "summary.json")])


def test_training_refuses_a_workdir_whose_model_folder_holds_a_foreign_file(tmp_path):
  from rde_jax.train import loop
  cfg = _runlocal()
  (tmp_path / "w" / "model").mkdir(parents=True)
  (tmp_path / "w" / "model" / "model.json").write_text("{}")
  (tmp_path / "w" / "model" / "my_weights.pth").write_text("the user's")
  with pytest.raises(manifest.ForeignFileError, match=r"--workdir .*model holds my_weights\.pth"):
    loop.train_and_evaluate(cfg, str(tmp_path / "w"))


def _runlocal():
  return load_config("synthetic", eval__source="none", compilation_cache="")
