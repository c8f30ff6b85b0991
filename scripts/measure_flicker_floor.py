"""How steady colour can measure on a film: the ab flicker of its own colours, and of one
constant colour written through the film path with the film's own luma.

    python scripts/measure_flicker_floor.py FILM [--render-size 128] [--chroma 0 5 10 20]

filmcolor keeps a film's luma and writes only its chroma planes, so what a player shows
(and what `filmcolor eval` scores) is the written Cb/Cr under the film's own, moving, grainy
Y plane. For each --chroma C the film is colorized through the real pipeline (lossless
FFV1) by a stand-in model that predicts a = b = C / sqrt(2) on every pixel of every frame,
a colour that does not change at all; its flicker (warping error on ab at render size,
within shots, as `filmcolor eval --reference-from-source` scores it) is what the film's
luma alone adds at that colourfulness, with no change of colour at all. The film's own
colours are scored the same way, with their mean chroma, for comparison.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor import color  # noqa: E402
from filmcolor.engine import DEFAULT_FILM_RENDER_SIZE  # noqa: E402
from filmcolor.evaluation import metrics  # noqa: E402
from filmcolor.evaluation.references import film_shots  # noqa: E402
from filmcolor.films import colorize_video  # noqa: E402
from filmcolor.video import rgb_frames  # noqa: E402


class ConstantChroma:
    """A stand-in for engine.Colorizer: the same ab on every pixel."""

    def __init__(self, chroma, render_size, batch_size=8):
        self.ab = np.float32([chroma, chroma]) / np.sqrt(2.0)
        self.render_size, self.batch_size = render_size, batch_size

    def predict_ab(self, grays):
        smalls = [color.resize_long_side(g, self.render_size) for g in grays]
        return [np.broadcast_to(self.ab, (*s.shape, 2)).copy() for s in smalls], smalls


def flicker(path, film, starts, render_size):
    """(ab flicker of `path` scored against the source `film`, its mean chroma)."""
    we, chroma, prev = metrics.WarpingError(), [], None
    for t, (truth, out) in enumerate(zip(rgb_frames(film), rgb_frames(path), strict=True)):
        src = color.resize_long_side(color.luma(truth), render_size)
        ab = color.rgb_to_lab(color.resize_long_side(out, render_size))[..., 1:]
        chroma.append(float(np.hypot(ab[..., 0], ab[..., 1]).mean()))
        if prev is not None and t not in starts:
            we.add(metrics.source_motion(prev[0], src), prev[1], ab)
        prev = (src, ab)
    return we.value, float(np.mean(chroma))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("film", type=Path)
    ap.add_argument("--render-size", type=int, default=DEFAULT_FILM_RENDER_SIZE)
    ap.add_argument("--chroma", type=float, nargs="+", default=[0.0, 5.0, 10.0, 20.0])
    args = ap.parse_args(argv)
    starts = {first for first, _, _ in film_shots(args.film, args.render_size)}
    rows = [("the film's own colours", *flicker(args.film, args.film, starts,
                                                 args.render_size))]
    with tempfile.TemporaryDirectory(prefix="filmcolor-floor-") as tmp:
        for c in args.chroma:
            out = Path(tmp) / f"constant-{c:g}.mkv"
            colorize_video(args.film, out, ConstantChroma(c, args.render_size), codec="ffv1")
            rows.append((f"one constant colour, |ab| = {c:g}",
                         *flicker(out, args.film, starts, args.render_size)))
    print(f"{args.film.name}: ab flicker at render size {args.render_size}, within shots "
          f"({len(starts)} shots)")
    for name, value, chroma in rows:
        print(f"  {name:34s} flicker {value:6.3f}   mean chroma as written {chroma:5.1f}")


if __name__ == "__main__":
    main()
