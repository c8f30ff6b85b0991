"""Carrying painted colour through shots, by DIS preset: time, as a ratio to the fast
preset measured in the same run, and (with --quality) what each gives; with --try, what
other settings of propagate.py give.

    python scripts/bench_propagate.py FILM [--render-size 128] [--repeat 3] [--quality]
    python scripts/bench_propagate.py FILM --try FILL_RADIUS=4,FILL_EPS=1e-3 DECAY=0.99 ...
    python scripts/bench_propagate.py --memory 0.985 0.995

Time: each shot's luma at render size is carried from its first frame (its own true
colour as the painting) with propagate.propagate_shot; the figure is the best of --repeat
runs. Quality: `filmcolor eval --reference-from-source first` for each preset (PSNR, AuC
and ab flicker of the film colorized with one true-colour frame per shot). --try scores
that way each group of propagate.py's constants (NAME=VALUE,...; the others as shipped)
instead of timing the presets. --memory DECAY ... measures (tracemalloc) the peak of one
painted frame carried through a still shot of 2 * REACH + 1 frames at 128 x 72, the most
a painted frame holds at that decay; no film needed.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor import color, propagate  # noqa: E402
from filmcolor.engine import DEFAULT_FILM_RENDER_SIZE, Colorizer  # noqa: E402
from filmcolor.evaluation.references import evaluate_references  # noqa: E402
from filmcolor.models import load_model, shipped_weights  # noqa: E402
from filmcolor.shots import frames_by_shot  # noqa: E402
from filmcolor.video import VideoReader, rgb_frames  # noqa: E402

PRESETS = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def shots(path, render_size):
    """[(lumas, first frame's true ab)] at render size, cut as the pipeline cuts."""
    cuts = set()
    with VideoReader(path, copy=False) as reader:
        for i, _, _, new_shot in frames_by_shot(reader, render_size):
            if new_shot:
                cuts.add(i)
    out = []
    for i, rgb in enumerate(rgb_frames(path)):
        small = color.resize_long_side(rgb, render_size)
        if i in cuts:
            out.append(([], color.rgb_to_lab(small)[..., 1:]))
        out[-1][0].append(color.luma(small))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("film", type=Path, nargs="?")
    ap.add_argument("--render-size", type=int, default=DEFAULT_FILM_RENDER_SIZE)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quality", action="store_true",
                    help="also colorize the film with each preset and score it")
    ap.add_argument("--try", dest="tries", nargs="+", metavar="NAME=VALUE,...",
                    help="score these settings of propagate.py instead")
    ap.add_argument("--memory", type=float, nargs="+", metavar="DECAY",
                    help="peak memory of carrying at these decays instead")
    args = ap.parse_args(argv)
    if args.memory:
        return measure_memory(args.memory)
    if args.film is None:
        ap.error("a film is needed (or --memory)")
    if args.tries:
        score_settings(args.film, args.render_size, args.tries)
        if not args.quality:
            return
    cv2.setNumThreads(1)  # one core each, as in a film task beside the model
    film = shots(args.film, args.render_size)
    frames = sum(len(lumas) for lumas, _ in film)
    seconds = {}
    for name, preset in PRESETS.items():
        propagate.FLOW_PRESET = preset
        best = np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for lumas, ab in film:
                propagate.propagate_shot(lumas, {0: ab})
            best = min(best, time.perf_counter() - t0)
        seconds[name] = best
    quality = {}
    if args.quality:
        cz = Colorizer(load_model(shipped_weights("unet")), render_size=args.render_size)
        for name, preset in PRESETS.items():
            propagate.FLOW_PRESET = preset
            quality[name] = "  " + _quality(evaluate_references(args.film, cz, "first"))
    print(f"{args.film.name}: {frames} frames in {len(film)} shots at render size "
          f"{args.render_size}")
    for name, s in seconds.items():
        print(f"  {name:6s} {s:6.2f} s  {frames / s:7.1f} frames/s  "
              f"{s / seconds['fast']:.2f}x the fast preset{quality.get(name, '')}")


def _quality(sc):
    return (f"PSNR {sc.mean(sc.psnr, 'references'):.2f} dB  AuC "
            f"{sc.mean(sc.auc, 'references'):.2f}  ab flicker "
            f"{sc.flicker['references'].value:.3f} (model alone "
            f"{sc.flicker['model'].value:.3f})")


def score_settings(film, render_size, tries):
    from filmcolor import references

    cz = Colorizer(load_model(shipped_weights("unet")), render_size=render_size)
    shipped = {k: getattr(propagate, k) for k in dir(propagate) if k.isupper()}
    print(f"{film.name}: one true-colour reference per shot (its first frame), render size "
          f"{render_size}")
    for setting in tries:
        for name, value in shipped.items():
            setattr(propagate, name, value)
        for pair in setting.split(","):
            name, value = pair.split("=")
            if name not in shipped:
                sys.exit(f"--try {pair}: propagate.py has no {name}")
            setattr(propagate, name, type(shipped[name])(float(value)))
        # frames a painted frame reaches follow from the decay (propagate.REACH)
        propagate.REACH = references.REACH = int(np.ceil(np.log(propagate.MIN_CONF)
                                                         / np.log(propagate.DECAY)))
        sc = evaluate_references(film, cz, "first")
        print(f"  {setting:36s} {_quality(sc)}")


def measure_memory(decays):
    import tracemalloc

    rng = np.random.default_rng(0)
    still = cv2.GaussianBlur(rng.random((72, 128)).astype(np.float32), (0, 0), 2)
    ab = np.full((72, 128, 2), 20.0, np.float32)
    for decay in decays:
        propagate.DECAY = decay
        reach = propagate.REACH = int(np.ceil(np.log(propagate.MIN_CONF) / np.log(decay)))
        n = 2 * reach + 1  # grain only: the checks pass, the decay alone ends the colour
        lumas = [still + rng.normal(0, 0.002, still.shape).astype(np.float32)
                 for _ in range(n)]
        tracemalloc.start()
        propagate.propagate_shot(lumas, {reach: ab})
        peak = tracemalloc.get_traced_memory()[1] + sum(y.nbytes for y in lumas)
        tracemalloc.stop()
        print(f"  DECAY {decay}: reach {reach} frames each way, {n} frames held, peak "
              f"{peak / 2**20:.0f} MiB (the lumas held included)")


if __name__ == "__main__":
    main()
