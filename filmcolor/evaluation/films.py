"""`filmcolor eval --data film.mp4`: gray a colour film, colorize it, score every frame and
the flicker.

Per-frame PSNR, AuC and colourfulness of the result (smoothing on, as shipped, and off)
beside the gray baseline, and the temporal warping error of Lai et al. 2018 for the result,
the same run with smoothing off, and the colour source itself. The film is streamed: only
the smoothing window and one previous frame per row are held.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import color
from . import metrics
from ..errors import VideoOpenError
from ..temporal import DEFAULT_RADIUS, DEFAULT_STRENGTH, ChromaSmoother
from ..video import rgb_frames

log = logging.getLogger("filmcolor")

ROWS = ("smoothed", "unsmoothed", "gray", "source")


@dataclass
class VideoScores:
    frames: int = 0
    per_frame: dict = field(default_factory=lambda: {r: {"psnr": [], "auc": [], "cf": [],
                                                         "ab2": []} for r in ROWS})
    flicker_rgb: dict = field(default_factory=lambda: {r: metrics.WarpingError()
                                                       for r in ROWS})
    flicker_ab: dict = field(default_factory=lambda: {r: metrics.WarpingError()
                                                      for r in ROWS})

    def mean(self, row, key):
        """Mean over frames; PSNR skips frames equal to the source (black ones: +inf)."""
        values = np.asarray(self.per_frame[row][key], dtype=np.float64)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else float("nan")


def evaluate_video(path, colorizer, strength=DEFAULT_STRENGTH, radius=DEFAULT_RADIUS,
                   limit=None, progress=False):
    """Score one colour film; returns VideoScores."""
    scores = VideoScores()
    smoother = ChromaSmoother(strength, radius)
    state = {"prev": None}
    frames = rgb_frames(path)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, unit="frames", desc=f"eval {Path(path).name}", leave=False)
    batch = []

    def run(batch):
        grays = [color.luma(t) for t in batch]
        abs_, smalls = colorizer.predict_ab(grays)
        for truth, gray, ab, small in zip(batch, grays, abs_, smalls):
            for item, ab_smooth in smoother.push((truth, gray, small, ab), small, ab):
                _score_frame(scores, state, *item, ab_smooth)

    for i, rgb in enumerate(frames):
        if limit and i >= limit:
            break
        batch.append(rgb)
        if len(batch) == colorizer.batch_size:
            run(batch)
            batch = []
    if batch:
        run(batch)
    for item, ab_smooth in smoother.flush():
        _score_frame(scores, state, *item, ab_smooth)
    if scores.frames == 0:
        raise VideoOpenError(f"{path}: no frames decoded")
    return scores


def _score_frame(scores, state, truth, gray, small, ab_raw, ab_smooth):
    """Full-size quality per frame; flicker at render size (one size for every row)."""
    truth_ab = color.rgb_to_lab(truth)[..., 1:]
    small_truth = color.resize_long_side(truth, max(small.shape))
    outputs = {}  # row -> (full RGB or None, render-size RGB)
    for row, ab in (("smoothed", ab_smooth), ("unsmoothed", ab_raw)):
        offsets = color.chroma_offsets(small, ab)
        outputs[row] = (color.compose(gray, offsets), color.compose(small, offsets))
    outputs["gray"] = (np.repeat(gray[..., None], 3, -1), np.repeat(small[..., None], 3, -1))
    outputs["source"] = (truth, small_truth)
    for row, (full, _) in outputs.items():
        if row != "source":
            scores.per_frame[row]["psnr"].append(metrics.psnr_rgb(full, truth))
            scores.per_frame[row]["auc"].append(
                100.0 * metrics.auc_ab(color.rgb_to_lab(full)[..., 1:], truth_ab))
        scores.per_frame[row]["cf"].append(metrics.colorfulness(full))
    small_ab = {row: color.rgb_to_lab(o[1])[..., 1:] for row, o in outputs.items()}
    for row, ab in small_ab.items():  # what the flicker is relative to
        scores.per_frame[row]["ab2"].append(float(np.square(ab).sum(axis=-1).mean()))
    prev = state["prev"]
    if prev is not None:
        motion = metrics.source_motion(prev["small"], small)
        for row, (_, cur) in outputs.items():
            scores.flicker_rgb[row].add(motion, prev[row], cur)
            scores.flicker_ab[row].add(motion, prev[row + "_ab"], small_ab[row])
    state["prev"] = {"small": small, **{r: o[1] for r, o in outputs.items()},
                     **{r + "_ab": small_ab[r] for r in outputs}}
    scores.frames += 1


def _relative(scores, row):
    """Warping error on ab over the mean squared chroma (at render size): flicker as a
    share of the colour there is (issue 10: the absolute figure grows with colour)."""
    chroma2 = scores.mean(row, "ab2")
    # below 1 ab unit rms (a gray output's rounding) there is no colour to be a share of
    return "-" if not chroma2 > 1.0 else f"{scores.flicker_ab[row].value / chroma2:.4f}"


def format_video_table(scores, path):
    cols = ["filmcolor (smoothing on)", "smoothing off", "gray (ab=0)", "colour source"]
    rows = [
        ("PSNR (dB) per frame, RGB, full size; frames equal to the source (black) left out "
         "(higher is better)", "psnr", "{:.2f}"),
        ("AuC (%) per frame, ab error 0..150 (higher is better)", "auc", "{:.2f}"),
        ("colourfulness per frame (Hasler-Suesstrunk)", "cf", "{:.2f}"),
    ]
    body = []
    for label, key, fmt in rows:
        vals = [scores.mean(r, key) for r in ROWS]
        body.append([label, *["-" if np.isnan(v) else fmt.format(v) for v in vals]])
    body.append(["flicker: warping error, RGB 0..1 (Lai 2018; lower is steadier)",
                 *[f"{scores.flicker_rgb[r].value:.5f}" for r in ROWS]])
    body.append(["flicker: warping error on ab (ab units^2; lower is steadier)",
                 *[f"{scores.flicker_ab[r].value:.3f}" for r in ROWS]])
    body.append(["flicker on ab / the frames' mean squared chroma (lower is steadier)",
                 *[_relative(scores, r) for r in ROWS]])
    head = ["metric", *cols]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    pairs = scores.flicker_rgb["smoothed"].pairs
    title = (f"{scores.frames} frames of {Path(path)} (flicker over {pairs} frame pairs, "
             "at render size; flow on the source frames)")
    return "\n".join([title, "", line(head), sep, *map(line, body)])
