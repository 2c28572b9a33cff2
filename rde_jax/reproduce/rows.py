"""The paper's table, row by row: which config, checkpoint and dataset root each row needs, and
the figure the official README reports for it (scores in percent, as the README writes them).

Official README (Limingxing00/RDE-VOS-CVPR2022 at 548a889), "With BL30K" (s012) and "Without
BL30K" (s03). The README's D17 test-dev F of 92.9 is a typo for 82.9 ((74.9 + 82.9) / 2 = 78.9).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

# Dataset roots, as the --flag that names each and what it must hold.
DATASETS: Mapping[str, str] = {
    "davis": "--davis: the DAVIS 2017 trainval root (JPEGImages/480p, Annotations/480p, "
             "ImageSets/2016 and 2017)",
    "davis_testdev": "--davis_testdev: the DAVIS 2017 test-dev root (JPEGImages/480p, "
                     "Annotations/480p, ImageSets/2017/test-dev.txt)",
    "youtube": "--youtube: the YouTube-VOS 2019 root (valid/ and valid_all_frames/)",
}

# The pages that link each evaluation server's current upload form (the CodaLab competitions
# have moved before; the dataset sites keep the link current).
DAVIS_SERVER = "https://davischallenge.org/davis2017/code.html"
YOUTUBE_SERVER = "https://youtube-vos.org/dataset/vos/"


@dataclasses.dataclass(frozen=True)
class Row:
  """One row of the table.

  name: the row id (--rows). config: configs/<config>.py. checkpoint: the official file name.
  dataset: the key of DATASETS naming its root. metric: 'J&F' (scored here) or 'G' (server).
  official: the README's figures, in percent. server: the upload page (server-scored rows).
  """
  name: str
  title: str
  config: str
  checkpoint: str
  dataset: str
  metric: str
  official: Mapping[str, float]
  server: str | None = None

  @property
  def scored_here(self) -> bool:
    return self.server is None


ROWS: tuple[Row, ...] = (
    Row("d17_val", "DAVIS 2017 val", "davis2017_val", "model_s012_final.pth", "davis", "J&F",
        {"J&F": 86.1, "J": 82.1, "F": 90.0}),
    Row("d17_val_s03", "DAVIS 2017 val, without BL30K", "davis2017_val", "model_s03_final.pth",
        "davis", "J&F", {"J&F": 84.2, "J": 80.8, "F": 87.5}),
    Row("d16_val", "DAVIS 2016 val", "davis2016_val", "model_s012_final.pth", "davis", "J&F",
        {"J&F": 91.6, "J": 90.0, "F": 93.2}),
    Row("d17_testdev", "DAVIS 2017 test-dev", "davis2017_testdev", "model_s012_final.pth",
        "davis_testdev", "J&F", {"J&F": 78.9, "J": 74.9, "F": 82.9}, server=DAVIS_SERVER),
    Row("yv19_valid", "YouTube-VOS 2019 valid", "youtube2019_valid", "model_s012_final_yv.pth",
        "youtube", "G", {"G": 83.3, "J_s": 81.9, "F_s": 86.3, "J_u": 78.0, "F_u": 86.9},
        server=YOUTUBE_SERVER),
)
BY_NAME: Mapping[str, Row] = {r.name: r for r in ROWS}
CHECKPOINTS: tuple[str, ...] = tuple(dict.fromkeys(r.checkpoint for r in ROWS))
