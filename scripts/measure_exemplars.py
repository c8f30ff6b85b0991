"""How much an exemplar photo (`--reference photo.jpg`) gives, and at which weight.

    python scripts/measure_exemplars.py --corpus data/corpus --film Megamind.avi
    python scripts/measure_exemplars.py --corpus CORPUS --film FILM --smoke   # CI: 64 px

Photos: every picture of the validation split is colorized by the default model alone and
with an exemplar: the training photo whose colours are most like its own (the smallest L1
distance between ab histograms), standing in for a user who picks a photo of a similar
scene. Never the picture itself: exemplars come from the training split only.
Film: frames of each shot of the film, with the true-colour first frame of the same shot
(only frames at least 30 frames away from it) and of the next shot as the exemplar.
Each at several weights (how far a perfect match pulls the model); RGB PSNR and AuC per
picture or frame against the original, beside gray and the model alone.
"""

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor import color  # noqa: E402
from filmcolor.api import load_colorizer  # noqa: E402
from filmcolor.evaluation import metrics  # noqa: E402
from filmcolor.exemplar import Exemplar  # noqa: E402
from filmcolor.image import find_images, read_image  # noqa: E402
from filmcolor.models import shipped_weights  # noqa: E402

WEIGHTS = (0.3, 0.6, 0.8, 1.0)
BINS = 16  # ab histogram bins per axis, over -110..110


def _hist(rgb):
    ab = color.rgb_to_lab(color.resize_long_side(rgb, 128))[..., 1:].reshape(-1, 2)
    h, _, _ = np.histogram2d(ab[:, 0], ab[:, 1], BINS, [[-110, 110], [-110, 110]])
    return (h / h.sum()).ravel()


class Rows:
    def __init__(self):
        self.psnr, self.auc = {}, {}

    def add(self, name, rgb, truth):
        self.psnr.setdefault(name, []).append(metrics.psnr_rgb(rgb, truth))
        self.auc.setdefault(name, []).append(
            100 * metrics.auc_ab(color.rgb_to_lab(rgb)[..., 1:], color.rgb_to_lab(truth)[..., 1:]))

    def table(self, title):
        gray = np.asarray(self.psnr["gray"])
        lines = [title, "", "| | RGB PSNR, dB | AuC, % | worst picture vs gray, dB |",
                 "|---|---:|---:|---:|"]
        for name in self.psnr:
            p = np.asarray(self.psnr[name])
            lines.append(f"| {name} | {p.mean():.2f} | {np.mean(self.auc[name]):.2f} | "
                         f"{(p - gray).min():+.2f} |")
        return "\n".join(lines) + "\n"


def _score(rows, colorizer, truth, exemplars):
    """exemplars: {label: Exemplar at each weight}; truth: float RGB."""
    g = color.luma(truth)
    rows.add("gray", np.repeat(g[..., None], 3, -1), truth)
    (ab,), (small,) = colorizer.predict_ab([g])
    rows.add("model alone", color.compose(g, color.chroma_offsets(small, ab)), truth)
    for label, by_weight in exemplars.items():
        for w, ex in by_weight.items():
            fused = ex.fuse(small, ab)
            rows.add(f"{label}, weight {w}", color.compose(g, color.chroma_offsets(small, fused)),
                     truth)


def photos(colorizer, corpus):
    train = [(p, _hist(read_image(p)[0])) for p in find_images(corpus / "train")]
    rows = Rows()
    val = find_images(corpus / "val")
    for path in val:
        truth, _ = read_image(path)
        h = _hist(truth)
        best = min(train, key=lambda t: np.abs(t[1] - h).sum())[0]
        by_weight = {w: Exemplar(best, colorizer.render_size, weight=w) for w in WEIGHTS}
        _score(rows, colorizer, truth, {"exemplar": by_weight})
    return rows.table(f"Validation split ({len(val)} photos, render size "
                      f"{colorizer.render_size}); exemplar: the training photo with the most "
                      "similar colours")


def film(colorizer, path):
    from filmcolor.evaluation.references import choose, film_shots
    from filmcolor.video import rgb_frames

    frames = list(rgb_frames(path))
    shots = [s for s in film_shots(path, colorizer.render_size) if s[2] is not None]
    firsts = choose(shots, "first")
    rows_same, rows_next = Rows(), Rows()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for r in firsts:
            f = Path(tmp) / f"frame-{r}.png"
            cv2.imwrite(str(f), cv2.cvtColor(np.rint(frames[r] * 255).astype(np.uint8),
                                             cv2.COLOR_RGB2BGR))
            files.append(f)
        for k, (first, end, _) in enumerate(shots):
            same = {w: Exemplar(files[k], colorizer.render_size, weight=w) for w in WEIGHTS}
            nxt = {w: Exemplar(files[(k + 1) % len(files)], colorizer.render_size, weight=w)
                   for w in WEIGHTS}
            for t in range(first, end, 3):
                if abs(t - firsts[k]) >= 30:
                    _score(rows_same, colorizer, frames[t], {"exemplar": same})
                _score(rows_next, colorizer, frames[t], {"exemplar": nxt})
    n_same, n_next = len(rows_same.psnr["gray"]), len(rows_next.psnr["gray"])
    return (rows_same.table(f"{Path(path).name}, every 3rd frame at least 30 frames from the "
                            f"exemplar, its shot's first frame ({n_same} frames, render size "
                            f"{colorizer.render_size})")
            + "\n" + rows_next.table(f"{Path(path).name}, every 3rd frame, exemplar: the next "
                                     f"shot's first frame ({n_next} frames)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, help="the corpus (its train/ and val/)")
    ap.add_argument("--film", type=Path, help="a colour film")
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped default")
    ap.add_argument("--smoke", action="store_true",
                    help="render both at 64 px (the CI check; the figures are at 256 and 128)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    weights = args.weights or shipped_weights()
    if args.corpus:
        print(photos(load_colorizer(weights, 64 if args.smoke else 256, 8), args.corpus))
    if args.film:
        print(film(load_colorizer(weights, 64 if args.smoke else 128, 8), args.film))


if __name__ == "__main__":
    main()
