"""The batch report as a person sees it: rendered by Debian's headless Chromium through
scripts/screenshot_report.py (skipped where Chromium is not installed)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_video import write_clip

from filmcolor.batch import BatchOptions, run_batch
from filmcolor.errors import PartialFailure

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "screenshot_report.py"
FAILED_ROW = (226, 226, 253)  # BGR of the failed row's background, #fde2e2


HAVE_CHROMIUM = bool(shutil.which("chromium") or shutil.which("chromium-browser"))


def test_ci_has_the_browser():
    """.ci/run installs Chromium and sets FILMCOLOR_REQUIRE_BROWSER: there the browser test
    below must run, not skip."""
    if not os.environ.get("FILMCOLOR_REQUIRE_BROWSER"):
        pytest.skip("not in CI")
    assert HAVE_CHROMIUM, "Chromium is not installed (apt-get install chromium)"


@pytest.mark.skipif(not HAVE_CHROMIUM,
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path, make_image, random_bytes_file,
                                             model_path):
    make_image("shelf/a.png", seed=1)
    write_clip(tmp_path / "shelf" / "clip.mp4", size=(96, 128), n=12, audio=False)
    random_bytes_file("shelf/broken.png")
    out = tmp_path / "out"
    with pytest.raises(PartialFailure):
        run_batch([tmp_path / "shelf"], out, BatchOptions(weights=model_path, render_size=32))
    png = tmp_path / "report.png"
    done = subprocess.run([sys.executable, str(SCRIPT), str(out / "report.html"), str(png),
                           "--width", "1400", "--height", "700"],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    shot = cv2.imread(str(png))
    assert shot is not None and shot.shape[:2] == (700, 1400)
    # the failure is on screen, first, in its red row
    failed = np.all(shot == FAILED_ROW, axis=-1)
    assert failed.sum() > 20_000
    top_of_failure = np.argmax(failed.any(axis=1))
    assert top_of_failure < 200
    # the thumbnails decoded and drew: solid areas of picture, which text (thin strokes)
    # never makes, below the failed row
    below = shot[top_of_failure:]
    ink = ((below.mean(axis=-1) < 245) & ~np.all(below == FAILED_ROW, axis=-1))
    solid = cv2.erode(ink.astype(np.uint8), np.ones((9, 9), np.uint8))
    assert solid.sum() > 4 * 40 * 40, "no thumbnails on the page"
