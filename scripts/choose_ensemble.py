#!/usr/bin/env python3
"""Score every ensemble of the given model files on a folder of colour photos, as
models/ensemble.py would run it (each member also on the mirrored picture, padded to the
ensemble's multiple of 32), from one prediction of each member per image.

    python scripts/choose_ensemble.py data/corpus/val weights/unet-studio.keras A.keras ... \
        [--max-size 4] [--top 25] [--must weights/unet-studio.keras] [--cache DIR]
        [--gain 1 1.2 ...]

Prints, best PSNR gain first, each subset's PSNR and AuC beside gray, colourfulness
relative to the originals', the count of pictures more than 3 dB below gray and the worst
one: the figures `filmcolor eval` gives (without its SSIM and paper columns); then each
model alone, and the best subsets within the harm bar (--harm, --worst: the photos'
default must not harm more than the one it replaces). Choosing
among many subsets on one set favours that set: score the chosen file once on the test
split (`filmcolor eval --data data/corpus/test --weights ...`), not here.
"""

import argparse
import hashlib
import itertools
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filmcolor import color  # noqa: E402
from filmcolor.evaluation import metrics  # noqa: E402
from filmcolor.evaluation.photos import HARM_DB  # noqa: E402
from filmcolor.image import find_images, read_image  # noqa: E402


def member_predictions(path, grays, render_size):
    """ab at render size of one model file on each gray picture: plain and mirrored (its
    prediction mirrored back), each padded as the ensemble pads."""
    from filmcolor.engine import Colorizer
    from filmcolor.models import ensemble, import_keras, load_model

    keras = import_keras()
    model = load_model(path)
    mirror = ensemble.mirror_layer()
    inp = keras.Input((None, None, 1))
    plain = keras.Model(inp, model(inp), name=ensemble.NAME)
    mirrored = keras.Model(inp, mirror()(model(mirror()(inp))), name=ensemble.NAME)
    out = []
    for wrapped in (plain, mirrored):
        cz = Colorizer(wrapped, render_size=render_size, batch_size=1)
        out.append([cz.predict_ab([g])[0][0] for g in grays])
    return out


def scores(ab_list, grays, truths, truth_ab):
    """Per-image RGB PSNR, AuC (%) and colourfulness of the ab predictions."""
    psnr, auc, cf = [], [], []
    for ab, gray, truth, t_ab in zip(ab_list, grays, truths, truth_ab):
        small = color.resize_long_side(gray, max(ab.shape[:2]))
        pred = color.compose(gray, color.chroma_offsets(small, ab))
        psnr.append(metrics.psnr_rgb(pred, truth))
        auc.append(100 * metrics.auc_ab(color.rgb_to_lab(pred)[..., 1:], t_ab))
        cf.append(metrics.colorfulness(pred))
    return np.array(psnr), np.array(auc), np.array(cf)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--max-size", type=int, default=4, help="largest ensemble scored")
    ap.add_argument("--top", type=int, default=25, help="rows printed")
    ap.add_argument("--must", type=Path, action="append", default=[],
                    help="only subsets holding this model (repeatable)")
    ap.add_argument("--render-size", type=int, default=256)
    ap.add_argument("--gain", type=float, nargs="+", default=[1.0],
                    help="also score each ensemble's mean ab times these factors (the "
                    "mean of models that disagree is paler than each; --saturation)")
    ap.add_argument("--harm", type=int, default=2,
                    help="the bar: at most this many pictures more than 3 dB below gray")
    ap.add_argument("--worst", type=float, default=-7.0,
                    help="the bar: no picture further below gray than this (dB)")
    ap.add_argument("--cache", type=Path, help="keep each model's predictions in this "
                    "folder (a rerun reads those of an unchanged model file on the same "
                    "photos)")
    args = ap.parse_args(argv)
    paths = find_images(args.data)
    truths = [read_image(p)[0] for p in paths]
    grays = [color.luma(t) for t in truths]
    truth_ab = [color.rgb_to_lab(t)[..., 1:] for t in truths]
    gray_psnr, gray_auc, _ = scores([np.zeros(g.shape + (2,), np.float32) for g in grays],
                                    grays, truths, truth_ab)
    source_cf = np.mean([metrics.colorfulness(t) for t in truths])
    t = time.time()
    preds, from_cache = {}, 0
    for m in args.models:
        preds[m], hit = _cached_predictions(args.cache, m, paths, grays, args.render_size)
        from_cache += hit
    print(f"{len(paths)} photos, {len(preds)} models predicted in {time.time() - t:.0f} s "
          f"({from_cache} read from --cache); "
          f"gray: PSNR {gray_psnr.mean():.2f} dB, AuC {gray_auc.mean():.2f}", flush=True)
    rows = []
    for k in range(1, args.max_size + 1):
        for subset in itertools.combinations(args.models, k):
            if not all(m in subset for m in args.must):
                continue
            for mirror in (False, True) if k == 1 else (True,):
                runs = [preds[m][0] for m in subset] + ([preds[m][1] for m in subset]
                                                        if mirror else [])
                mean = [np.mean(per_image, axis=0) for per_image in zip(*runs)]
                for g in args.gain:
                    psnr, auc, cf = scores([g * ab for ab in mean], grays, truths, truth_ab)
                    gain = psnr - gray_psnr
                    rows.append((gain.mean(), auc.mean() - gray_auc.mean(),
                                 cf.mean() / source_cf, int(np.sum(gain < -HARM_DB)),
                                 gain.min(), " + ".join(m.stem for m in subset)
                                 + (" (mirrored)" if mirror else "")
                                 + (f" x{g:g}" if g != 1 else "")))
    rows.sort(reverse=True)
    table("best PSNR", rows[:args.top])
    table("each model alone", [r for r in rows if " + " not in r[5]])
    table(f"within the bar (<= {args.harm} pictures > 3 dB below gray, none below "
          f"{args.worst:+g} dB)", [r for r in rows if r[3] <= args.harm and r[4] >= args.worst]
          [:args.top])


def table(title, rows):
    print(f"\n{title}:\n{'PSNR vs gray':>12} {'AuC vs gray':>11} {'colour':>6} "
          f"{'> 3 dB below':>12} {'worst':>6}  models")
    for row in rows:
        print(f"{row[0]:+12.2f} {row[1]:+11.2f} {row[2]:6.2f} {row[3]:12d} {row[4]:+6.2f}  "
              f"{row[5]}")


def _cached_predictions(folder, model, paths, grays, render_size):
    """member_predictions of `model` and whether they were read from `folder` (which holds
    them for this very file (path, size, mtime), these photos and this render size)."""
    if not folder:
        return member_predictions(model, grays, render_size), False
    st = model.stat()
    key = (str(model.resolve()), st.st_size, st.st_mtime_ns, [str(p) for p in paths],
           render_size)
    name = hashlib.sha1(repr(key).encode()).hexdigest()[:16] + ".pkl"
    cached = folder / name
    if cached.is_file():
        with open(cached, "rb") as f:
            return pickle.load(f), True
    preds = member_predictions(model, grays, render_size)
    folder.mkdir(parents=True, exist_ok=True)
    with open(cached.with_suffix(".part"), "wb") as f:
        pickle.dump(preds, f)
    cached.with_suffix(".part").replace(cached)
    return preds, False


if __name__ == "__main__":
    main()
