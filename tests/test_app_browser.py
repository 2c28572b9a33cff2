"""rde-app in a real browser (headless Chromium through Selenium): open the page, upload a clip and
a mask, propagate, scrub, paint a correction and propagate from it, download the masks and compare
them with rde-segment's. Screenshots of each step go to $RDE_APP_SCREENSHOTS (else the test's
tmp folder); with RDE_APP_DOCS_SCREENSHOT=1 the reviewed frame's one is copied to
docs/app_screenshot.png (the README's). RDE_APP_CHECKPOINT: a model other than the tiny random
one (e.g. the demo's /tmp/rde_demo, for a screenshot with meaningful masks); RDE_APP_VIDEO and
RDE_APP_MASK: a GIF and its first-frame label PNG instead of the synthetic clip."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rde_jax import api
from rde_jax.fileio import label_png, video_reader
from rde_jax.inference.settings import InferenceSettings

import app_fixture as A
import eval_fakes as F

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _missing_browser() -> str | None:
  for path in (CHROMIUM, CHROMEDRIVER):
    if not (os.path.exists(path) or shutil.which(os.path.basename(path))):
      return f"{path} is not installed (apt-get install chromium chromium-driver)"
  return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  missing = _missing_browser()
  if missing:
    pytest.skip(missing)
  webdriver = pytest.importorskip("selenium.webdriver")
  downloads = tmp_path_factory.mktemp("downloads")
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
  for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,860"):
    options.add_argument(arg)
  options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                            "download.prompt_for_download": False})
  service = webdriver.ChromeService(
      executable_path=CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which(
          "chromedriver"))
  driver = webdriver.Chrome(options=options, service=service)
  driver.downloads = downloads
  yield driver
  driver.quit()


def _wait(driver, condition, what: str, timeout: float = 300):
  end = time.monotonic() + timeout
  while time.monotonic() < end:
    error = driver.find_element("id", "message").get_attribute("class") == "error"
    if error:
      raise AssertionError("the page shows an error: " + driver.find_element(
          "id", "message").text)
    if condition():
      return
    time.sleep(0.05)
  raise AssertionError(f"timed out waiting for {what}")


def _body(driver, key: str) -> str | None:
  return driver.find_element("tag name", "body").get_attribute(f"data-{key}")


def test_browser_annotate_propagate_correct_download(browser, tmp_path):
  from selenium.webdriver.common.action_chains import ActionChains
  from selenium.webdriver.common.keys import Keys
  d = tmp_path / "clip"
  A.write_clip(d)
  video = Path(os.environ.get("RDE_APP_VIDEO") or d / "clip.gif")
  mask = Path(os.environ.get("RDE_APP_MASK") or d / "first.png")
  n = video_reader.open_video(video).num_frames
  shots = Path(os.environ.get("RDE_APP_SCREENSHOTS") or tmp_path / "screenshots")
  shots.mkdir(parents=True, exist_ok=True)
  ckpt = os.environ.get("RDE_APP_CHECKPOINT")
  model = api.load(ckpt) if ckpt else F.tiny_model()
  server, thread = A.start_server(model, roots=[])
  c, b = A.Client(server.url), browser
  find = lambda i: b.find_element("id", i)  # noqa: E731
  message = lambda: find("message").text  # noqa: E731
  try:
    b.get(server.url)
    _wait(b, lambda: find("setting-top_k").get_attribute("value") == "40", "the settings")
    b.save_screenshot(str(shots / "01_page.png"))

    (d / "broken.gif").write_bytes(b"GIF89a, but nothing after")  # a clear message, no trace
    find("video-file").send_keys(str(d / "broken.gif"))
    end = time.monotonic() + 60
    while find("message").get_attribute("class") != "error" and time.monotonic() < end:
      time.sleep(0.05)
    assert "broken.gif" in message() and "Traceback" not in message(), message()
    b.save_screenshot(str(shots / "01b_bad_upload.png"))

    find("video-file").send_keys(str(video))
    _wait(b, lambda: message().startswith("Opened"), "the video")
    b.save_screenshot(str(shots / "02_video.png"))

    find("mask-file").send_keys(str(mask))
    _wait(b, lambda: message().startswith("Mask of frame 0"), "the mask")
    assert len(b.find_elements("css selector", "#objects li")) == len(
        np.unique(label_png.read_label_image(mask))) - 1
    b.save_screenshot(str(shots / "03_mask.png"))

    top_k = find("setting-top_k")
    top_k.clear()
    top_k.send_keys("20")
    find("propagate").click()
    _wait(b, lambda: _body(b, "runs") == "1" and _body(b, "status") == "done",
          "the propagation")
    assert f"Done: {n} frames from frame 0" in message()
    b.save_screenshot(str(shots / "04_propagated.png"))
    first_run = A.zip_masks(c.request("GET", "/api/download/masks.zip")[1])

    slider = find("frame-slider")
    slider.click()  # the middle of the track, then the keys to frame 5
    for _ in range(20):
      t = int(_body(b, "frame"))
      if t == 5:
        break
      slider.send_keys(Keys.ARROW_RIGHT if t < 5 else Keys.ARROW_LEFT)
      _wait(b, lambda t=t: int(_body(b, "frame")) != t, "the slider", 30)
    assert _body(b, "frame") == "5" and f"frame 5 / {n - 1}" in find("frame-label").text
    b.save_screenshot(str(shots / "05_scrubbed.png"))

    find("add-object").click()  # a new object, painted in a stroke across the frame's lower half
    view = find("view")
    w = view.size["width"]
    ActionChains(b).move_to_element_with_offset(view, -w // 4, w // 8).click_and_hold() \
        .move_by_offset(w // 4, 0).move_by_offset(w // 4, 0).release().perform()
    find("propagate").click()
    _wait(b, lambda: _body(b, "runs") == "2" and _body(b, "status") == "done",
          "the second propagation")
    assert f"Done: {n - 5} frames from frame 5" in message()
    b.save_screenshot(str(shots / "06_corrected.png"))
    if os.environ.get("RDE_APP_DOCS_SCREENSHOT") == "1":
      shutil.copyfile(shots / "06_corrected.png", REPO / "docs" / "app_screenshot.png")

    href = find("dl-masks").get_attribute("href")
    assert "disabled" not in find("dl-masks").get_attribute("class")
    find("dl-masks").click()
    target = b.downloads / "masks.zip"
    _wait(b, target.exists, "the download", 60)
    served = c.request("GET", href.removeprefix(server.url.rstrip("/")))[1]
    assert target.read_bytes() == served
    got = A.zip_masks(served)
  finally:
    A.stop_server(server, thread)

  settings = InferenceSettings(top_k=20)
  want0 = A.segment_masks(model, video, mask, tmp_path / "seg0", settings)
  assert first_run == want0  # the first run, byte for byte
  painted = np.asarray(Image.open(io.BytesIO(got["00005.png"])))
  new_id = int(painted.max())
  assert (painted == new_id).sum() > 50 and not (np.asarray(Image.open(io.BytesIO(
      first_run["00005.png"]))) == new_id).any()  # the stroke, a new object, is in frame 5
  label_png.write_label_png(tmp_path / "m5.png", painted)
  want5 = A.segment_masks(model, video, tmp_path / "m5.png", tmp_path / "seg5", settings,
                          start_frame=5)
  assert sorted(got) == sorted(want0)
  for t in range(n):
    name = f"{t:05d}.png"
    assert got[name] == (want0 if t < 5 else want5)[name], name
