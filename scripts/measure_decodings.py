"""How should a classification U-Net be decoded? Issue 8's figures for each choice.

A classify-head U-Net (`filmcolor train --loss classify`) predicts a distribution over ab
bins; two choices that cost no training turn it into colour:
- the annealing temperature T of the annealed mean (Zhang et al. 2016: 0.38);
- a prior correction: `strength` x the log of each bin's share of the training pixels
  taken off the logits before the softmax (0: as trained; 1: the common colours, gray
  first, divided out). Class rebalancing moved from training to decoding, so one
  calibrated run can be decoded at every strength.

For each combination: PSNR and AuC over gray, colourfulness / the originals', the worst
picture against gray, and how many pictures are more than 3 dB below gray, on the
validation split (never the test split). `--save DIR` also writes each combination as a
weights file (`filmcolor eval --weights` takes it; the engine needs nothing else).

    python scripts/measure_decodings.py runs/cls/best.keras --corpus data/corpus \\
        --temperature 0.2 0.38 0.6 1 --strength 0 0.25 0.5 [--save runs/cls-decoded]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure_chroma_gain import figures  # noqa: E402

from filmcolor import color  # noqa: E402
from filmcolor.engine import Colorizer  # noqa: E402
from filmcolor.evaluation import metrics  # noqa: E402
from filmcolor.evaluation.photos import _code_true, score  # noqa: E402
from filmcolor.image import find_images, read_image  # noqa: E402
from filmcolor.models import load_model  # noqa: E402
from filmcolor.models.unet import (bin_centres, temperature_of,  # noqa: E402
                                   with_prior_correction, with_temperature)
from filmcolor.options import DEFAULT_RENDER_SIZE  # noqa: E402
from filmcolor.train import ABBins, TrainConfig, load_pairs, split_paths, usable  # noqa: E402


class Picture:
    """A validation picture: its truth, luma at render size and gray's score."""

    def __init__(self, path, render_size):
        self.truth, _ = read_image(path)
        self.gray = color.luma(self.truth)
        self.small = color.resize_long_side(self.gray, render_size)
        self.code_true = _code_true(self.truth, self.small.shape)
        self.source_cf = metrics.colorfulness(self.truth)
        gray_rgb = np.repeat(self.gray[..., None], 3, axis=-1)
        self.gray_score = score(gray_rgb, np.full(self.small.shape + (2,),
                                                  color.encode_ab(np.zeros(2))),
                                self.truth, self.code_true)


def training_prior(corpus, model):
    """Each of the model's bins' share of the training pixels, counted as training does."""
    cfg = TrainConfig(data=str(corpus), out="")
    train_paths, _ = split_paths(cfg.data, cfg.val_split, cfg.seed)
    bins = ABBins(usable(load_pairs(train_paths, cfg.load_size), train_paths))
    if not np.allclose(bins.centres_code, bin_centres(model), atol=1e-6):
        sys.exit(f"{corpus}: its training split does not give the model's bins; give the "
                 "corpus the model was trained on")
    return bins.prior


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, help="a classify-head U-Net (.keras)")
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--temperature", type=float, nargs="+", default=[0.38])
    ap.add_argument("--strength", type=float, nargs="+", default=[0.0])
    ap.add_argument("--save", type=Path, default=None, help="write each decoding here")
    args = ap.parse_args(argv)
    model = load_model(args.weights)
    log_prior = np.log(training_prior(args.corpus, model) + 1e-6)
    val = [Picture(p, DEFAULT_RENDER_SIZE) for p in find_images(args.corpus / "val")]
    print(f"{args.weights} (trained at T {temperature_of(model):g}); {len(val)} validation "
          f"pictures; prior over {len(log_prior)} bins from the training split")
    print()
    print("| T | prior correction | PSNR vs gray, dB | AuC vs gray | colourfulness / "
          "originals' | worst picture vs gray, dB | pictures > 3 dB below gray |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for strength in args.strength:
        corrected = with_prior_correction(model, log_prior, strength)
        for t in args.temperature:
            decoded = with_temperature(corrected, t)
            cz = Colorizer(decoded)
            for p in val:
                (p.ab,), _ = cz.predict_ab([p.gray])
            print(f"| {t:g} | {strength:g} | {figures(val, lambda p: p.ab)} |", flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                decoded.save(args.save / f"{args.weights.stem}-T{t:g}-prior{strength:g}.keras")


if __name__ == "__main__":
    main()
