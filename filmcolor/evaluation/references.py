"""`filmcolor eval --data film.mp4 --reference-from-source first|middle`: how much painted
frames give, measured with the film's own colours as the painting.

One frame per shot (its first frame with a picture, or its middle frame) is handed over in
its true colour as if a colourist had painted it; the film is then colorized twice through
the real pipeline (lossless FFV1, so only the colour differs): with those references and by
the model alone. Every frame of both, and the gray film, is scored against the original
(RGB PSNR, AuC), with the flicker (warping error on ab at render size), the frames'
distance to the nearest reference in their shot, and the wall time of each run. The
film's own colours get the flicker and mean chroma too: the warping error grows with how
colourful a film is (scripts/measure_flicker_floor.py), so a steadiness figure means little
without the colourfulness beside it.
"""

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import color
from ..errors import UsageError
from ..films import colorize_video
from ..references import ReferenceTrack
from ..shots import frames_by_shot
from ..temporal import FLAT_STD
from ..video import VideoReader, rgb_frames
from . import metrics

log = logging.getLogger("filmcolor")

ROWS = ("references", "model", "gray")


@dataclass
class ReferenceScores:
    where: str
    references: list  # frame indices handed over
    shots: int
    psnr: dict = field(default_factory=lambda: {r: [] for r in ROWS})
    auc: dict = field(default_factory=lambda: {r: [] for r in ROWS})
    # flicker and chroma also for "original", the film's own colours
    flicker: dict = field(default_factory=lambda: {r: metrics.WarpingError()
                                                   for r in (*ROWS, "original")})
    chroma: dict = field(default_factory=lambda: {r: [] for r in (*ROWS, "original")})
    chroma2: dict = field(default_factory=lambda: {r: [] for r in (*ROWS, "original")})
    distance: list = field(default_factory=list)  # per frame, to the nearest reference
    patches: int | None = None  # references painted in this many patches only
    seconds: dict = field(default_factory=dict)  # "references", "model": wall time of a run

    def mean(self, table, row):
        v = np.asarray(table[row], np.float64)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")


def film_shots(path, render_size):
    """[(first, end, first frame with a picture)] of the film, cut as the pipeline cuts."""
    shots, start, paintable = [], 0, None
    with VideoReader(path, copy=False) as reader:
        for i, _, small, new_shot in frames_by_shot(reader, render_size):
            if new_shot and i:
                shots.append((start, i, paintable))
                start, paintable = i, None
            if paintable is None and float(small.std()) >= FLAT_STD:
                paintable = i
        shots.append((start, i + 1, paintable))
    return shots


def choose(shots, where):
    """One frame index per shot with a picture: its first such frame, or its middle."""
    if where not in ("first", "middle"):
        raise UsageError(f"--reference-from-source {where}: use first or middle")
    chosen = []
    for first, end, paintable in shots:
        if paintable is None:
            continue  # flat throughout: nothing a colourist could paint
        chosen.append(paintable if where == "first" else max(paintable, (first + end - 1) // 2))
    return chosen


def evaluate_references(path, colorizer, where="first", progress=False, patches=None,
                        seed=0):
    """Score `path` (a colour film) with one true-colour reference per shot; returns
    ReferenceScores. `patches`: each reference painted only in that many squares of
    PATCH px of its true colour at seeded random places, the rest left gray (strokes, not
    a full painting)."""
    path = Path(path)
    render = colorizer.render_size
    shots = film_shots(path, render)
    refs = choose(shots, where)
    with tempfile.TemporaryDirectory(prefix="filmcolor-eval-") as tmp:
        tmp = Path(tmp)
        keys = tmp / "keys"
        keys.mkdir()
        want = set(refs)
        for i, rgb in enumerate(rgb_frames(path)):
            if i in want:
                if patches:
                    rgb = patched(rgb, patches, np.random.default_rng([seed, i]))
                bgr = cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(keys / f"frame-{i:06d}.png"), bgr)
        t0 = time.perf_counter()
        colorize_video(path, tmp / "model.mkv", colorizer, codec="ffv1", progress=progress)
        seconds_model = time.perf_counter() - t0
        t0 = time.perf_counter()
        track = ReferenceTrack(path, keys, render, scratch_dir=tmp)
        try:
            colorize_video(path, tmp / "references.mkv", colorizer, codec="ffv1",
                           progress=progress, track=track)
        finally:
            track.close()
        scores = ReferenceScores(where, refs, len(shots), patches=patches,
                                 seconds={"model": seconds_model,
                                          "references": time.perf_counter() - t0})
        _score(scores, path, tmp, shots, render)
    return scores


PATCH = 9  # px, a patch of a partly painted reference


def patched(rgb, n, rng):
    """The gray picture with `n` squares of PATCH px in their true colour (float RGB)."""
    from ..hints.simulate import points

    _, mask = points(np.zeros(rgb.shape[:2] + (2,), np.float32), n, rng, size=PATCH)
    gray = np.repeat(color.luma(rgb)[..., None], 3, axis=-1)
    return np.where(mask[..., None] > 0, rgb, gray)


def _score(scores, path, tmp, shots, render):
    nearest = []
    for first, end, _ in shots:
        mine = [r for r in scores.references if first <= r < end]
        nearest += [min((abs(t - r) for r in mine), default=-1) for t in range(first, end)]
    streams = zip(rgb_frames(path), rgb_frames(tmp / "references.mkv"),
                  rgb_frames(tmp / "model.mkv"))
    prev = None
    for t, (truth, with_refs, model) in enumerate(streams):
        truth_ab = color.rgb_to_lab(truth)[..., 1:]
        gray = np.repeat(color.luma(truth)[..., None], 3, axis=-1)
        small_src = color.resize_long_side(color.luma(truth), render)
        outs = {"references": with_refs, "model": model, "gray": gray}
        small_ab = {"original": color.rgb_to_lab(color.resize_long_side(truth, render))[..., 1:]}
        for row, rgb in outs.items():
            scores.psnr[row].append(metrics.psnr_rgb(rgb, truth))
            scores.auc[row].append(100.0 * metrics.auc_ab(color.rgb_to_lab(rgb)[..., 1:],
                                                          truth_ab))
            small_ab[row] = color.rgb_to_lab(color.resize_long_side(rgb, render))[..., 1:]
        for row, ab in small_ab.items():
            scores.chroma[row].append(float(np.hypot(ab[..., 0], ab[..., 1]).mean()))
            scores.chroma2[row].append(float(np.square(ab).sum(axis=-1).mean()))
        if prev is not None and not any(t == s[0] for s in shots):  # no pair across a cut
            motion = metrics.source_motion(prev[0], small_src)
            for row, ab in small_ab.items():
                scores.flicker[row].add(motion, prev[1][row], ab)
        prev = (small_src, small_ab)
        scores.distance.append(nearest[t] if t < len(nearest) else -1)


def format_reference_table(scores, path):
    painting = f", {scores.patches} patches of {PATCH} px" if scores.patches else ""
    cols = {"references": f"with references ({scores.where} frame of each shot{painting})",
            "model": "model alone", "gray": "gray (ab=0)", "original": "the film's own"}
    every = (*ROWS, "original")
    body = [
        ["PSNR (dB) per frame, RGB, full size (higher is better)",
         *[f"{scores.mean(scores.psnr, r):.2f}" for r in ROWS], "-"],
        ["AuC (%) per frame, ab error 0..150 (higher is better)",
         *[f"{scores.mean(scores.auc, r):.2f}" for r in ROWS], "-"],
        ["flicker: warping error on ab, render size, within shots (lower is steadier)",
         *[f"{scores.flicker[r].value:.3f}" for r in every]],
        ["mean chroma: length of ab, render size (the flicker grows with it)",
         *[f"{scores.mean(scores.chroma, r):.1f}" for r in every]],
        ["flicker / the frames' mean squared chroma (lower is steadier)",
         *[relative_flicker(scores, r) for r in every]],
    ]
    head = ["metric", *[cols[r] for r in every]]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    s = scores.seconds
    title = (f"{len(scores.distance)} frames of {Path(path)}, {scores.shots} shots, "
             f"{len(scores.references)} references (frames "
             f"{', '.join(map(str, scores.references))})")
    speed = (f"wall time: with references {s['references']:.1f} s, model alone "
             f"{s['model']:.1f} s (ratio {s['references'] / s['model']:.2f}x, the same run)")
    return "\n".join([title, "", line(head), sep, *map(line, body), "", speed])


def relative_flicker(scores, row):
    """The warping error on ab as a share of the colour there is (issue 10), as
    evaluation.films reports it; '-' for a gray output."""
    chroma2 = scores.mean(scores.chroma2, row)
    return "-" if not chroma2 > 1.0 else f"{scores.flicker[row].value / chroma2:.4f}"


def by_distance(scores):
    """[(distance, frames, mean PSNR per row)] for frames in shots with a reference."""
    d = np.asarray(scores.distance)
    psnr = {r: np.asarray(scores.psnr[r], np.float64) for r in ROWS}
    for v in psnr.values():
        v[~np.isfinite(v)] = np.nan  # a frame equal to the source (black) has no PSNR
    return [(k, int((d == k).sum()), {r: float(np.nanmean(v[d == k])) for r, v in psnr.items()})
            for k in sorted(set(d[d >= 0].tolist()))]


def plot_by_distance(scores, out):
    """PSNR against distance (frames) from the nearest reference, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = by_distance(scores)
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for r, label in (("references", "with references"), ("model", "model alone"),
                     ("gray", "gray")):
        ax.plot([k for k, _, _ in rows], [v[r] for _, _, v in rows], label=label,
                marker="." if len(rows) < 40 else None)
    ax.set_xlabel("frames from the nearest reference (same shot)")
    ax.set_ylabel("RGB PSNR, dB (mean over frames)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
