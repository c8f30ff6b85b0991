"""Can a chroma gain after the network buy issue 8's colour without its failures?

Measures, on the validation split, what scaling the predicted ab does to the bar's four
figures (PSNR and AuC over gray, colourfulness / the originals', the worst picture
against gray):
- a uniform gain (one factor for every picture);
- a per-picture gain learned on the training split: ridge regression from the network's
  own global-context features (the pooled bottleneck and the gate) to log(true / predicted
  mean chroma), the factor that would give each picture its true amount of colour;
- the same factor from the truth (an oracle: the most any per-picture gain could do);
- removing each picture's mean tint (the warm cast the worst pictures carry);
- keeping a part of the mean tint and scaling the colour's variation around it (the
  spread is what colourfulness mostly measures);
- a curve on each pixel's chroma (hue kept): a power law that keeps confident, strong
  colour and shrinks weak colour, or a soft threshold that sets weak colour to gray;
- with --ensemble, the mean of this network's prediction and those of other weights files
  (other seeds of its recipe), uniformly scaled.

    python scripts/measure_chroma_gain.py --corpus data/corpus [--weights FILE]
        [--ensemble FILE ...]

Nothing here is shipped; the output is the model card's "Chroma after the network".
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor import color  # noqa: E402
from filmcolor.engine import Colorizer  # noqa: E402
from filmcolor.evaluation import metrics  # noqa: E402
from filmcolor.evaluation.photos import _code_true, score  # noqa: E402
from filmcolor.image import find_images, read_image  # noqa: E402
from filmcolor.models import import_keras, load_model, shipped_weights  # noqa: E402

UNIFORM = (0.5, 0.75, 1.0, 1.15, 1.3, 1.5)
RIDGE_ALPHAS = (1, 10, 30, 100, 300, 1000, 3000)  # chosen by 5-fold CV on train
MAX_GAIN = 4.0
TINT_SPREAD = [(t, k) for t in (0.25, 0.5, 0.75, 1.0) for k in (1.25, 1.5, 2.0)]
POWER = [(g, c0) for g in (0.25, 0.5, 0.75) for c0 in (10, 15)]  # chroma x (chroma/c0)^g
THRESHOLD = [(t, k) for t in (3, 5, 8) for k in (1.3, 1.6, 2.0)]  # k x max(chroma - t, 0)
ENSEMBLE_GAIN = (1.0, 1.2, 1.3, 1.4, 1.5)


class Picture:
    """One image: its truth, luma, prediction at render size and global features."""

    def __init__(self, path, colorizer, features, keep_truth):
        truth, _ = read_image(path)
        self.gray = color.luma(truth)
        (self.ab,), (self.small,) = colorizer.predict_ab([self.gray])
        h, w = self.small.shape
        ds = colorizer.downsample
        x = color.model_input(self.small)[None]
        x = np.pad(x, ((0, 0), (0, -h % ds), (0, -w % ds), (0, 0)), mode="reflect")
        self.features = np.concatenate([np.asarray(t).reshape(-1)
                                        for t in features.predict_on_batch(x)])
        true_ab = color.rgb_to_lab(color.resize_long_side(truth, max(h, w)))[..., 1:]
        self.log_ratio = float(np.log((_chroma(true_ab) + 1) / (_chroma(self.ab) + 1)))
        if keep_truth:
            self.truth = truth
            self.code_true = _code_true(truth, self.small.shape)
            self.source_cf = metrics.colorfulness(truth)
            gray_rgb = np.repeat(self.gray[..., None], 3, axis=-1)
            self.gray_score = score(gray_rgb, np.full(self.small.shape + (2,),
                                                      color.encode_ab(np.zeros(2))),
                                    truth, self.code_true)


def _chroma(ab):
    return float(np.mean(np.hypot(ab[..., 0], ab[..., 1])))


def _chroma_curve(fn):
    """Transform scaling each pixel's ab by fn(its chroma), so hue is kept."""
    def transform(p):
        c = np.maximum(np.hypot(p.ab[..., 0], p.ab[..., 1]), 1e-3)[..., None]
        return p.ab * fn(c)
    return transform


def _ridge(X, y, alpha):
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Z = (X - mu) / sd
    w = np.linalg.solve(Z.T @ Z + alpha * np.eye(Z.shape[1]), Z.T @ (y - y.mean()))
    return lambda Xn: ((Xn - mu) / sd) @ w + y.mean()


def _cv_error(X, y, alpha, k=5):
    fold = np.arange(len(y)) % k
    return sum(float(np.sum((_ridge(X[fold != f], y[fold != f], alpha)(X[fold == f])
                             - y[fold == f]) ** 2)) for f in range(k)) / len(y)


def figures(pictures, transform):
    """The bar's four figures and the count of pictures more than 3 dB below gray."""
    d_psnr, d_auc, cf = [], [], []
    for p in pictures:
        ab = transform(p)
        s = score(color.compose(p.gray, color.chroma_offsets(p.small, ab)),
                  color.encode_ab(ab), p.truth, p.code_true)
        g = p.gray_score
        d_psnr.append(s["psnr"] - g["psnr"])
        d_auc.append(s["auc"] - g["auc"])
        cf.append(s["colorfulness"])
    d_psnr = np.array(d_psnr)
    source = np.mean([p.source_cf for p in pictures])
    return (f"{d_psnr.mean():+.2f} | {np.mean(d_auc):+.2f} | {np.mean(cf) / source:.2f} | "
            f"{d_psnr.min():+.2f} | {int((d_psnr < -3).sum())}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=None, help="default: the shipped unet")
    ap.add_argument("--ensemble", type=Path, nargs="*", default=[],
                    help="other weights files whose predictions are averaged with it")
    args = ap.parse_args(argv)
    keras = import_keras()
    model = load_model(args.weights or shipped_weights("unet"))
    features = keras.Model(model.input, [model.get_layer("global_pool").output,
                                         model.get_layer("global_gate").output])
    cz = Colorizer(model)
    train = [Picture(p, cz, features, False) for p in find_images(args.corpus / "train")]
    val = [Picture(p, cz, features, True) for p in find_images(args.corpus / "val")]
    X = np.stack([p.features for p in train])
    y = np.array([p.log_ratio for p in train])
    alpha = min(RIDGE_ALPHAS, key=lambda a: _cv_error(X, y, a))
    predict = _ridge(X, y, alpha)
    Xv = np.stack([p.features for p in val])
    yv = np.array([p.log_ratio for p in val])
    pv = predict(Xv)
    r2 = 1 - float(np.mean((pv - yv) ** 2) / np.var(yv))
    for p, lr in zip(val, pv):
        p.learned = float(lr)

    rows = [(f"uniform x{g}", lambda p, g=g: g * p.ab) for g in UNIFORM]
    for strength in (0.5, 1.0):
        rows.append((f"per-picture, learned (x exp({strength} * predicted))",
                     lambda p, s=strength: min(np.exp(s * p.learned), MAX_GAIN) * p.ab))
    rows.append(("per-picture, from the truth (oracle)",
                 lambda p: min(np.exp(p.log_ratio), MAX_GAIN) * p.ab))
    mean_tint = lambda p: p.ab.reshape(-1, 2).mean(0)
    rows.append(("mean tint removed", lambda p: p.ab - mean_tint(p)))
    rows.append(("half the mean tint removed", lambda p: p.ab - 0.5 * mean_tint(p)))
    # Hasler-Suesstrunk colourfulness is mostly the spread of colour within a picture (its
    # mean counts 0.3): keep a part of the mean tint, scale the variation around it.
    for keep, spread in TINT_SPREAD:
        rows.append((f"mean tint x{keep}, variation around it x{spread}",
                     lambda p, t=keep, k=spread: t * mean_tint(p)
                     + k * (p.ab - mean_tint(p))))

    for g, c0 in POWER:
        rows.append((f"each pixel's chroma x (chroma / {c0})^{g}",
                     _chroma_curve(lambda c, g=g, c0=c0: (c / c0) ** g)))
    for t, k in THRESHOLD:
        rows.append((f"each pixel's chroma: {k} x max(chroma - {t}, 0)",
                     _chroma_curve(lambda c, t=t, k=k: k * np.maximum(c - t, 0) / c)))
    if args.ensemble:
        others = [Colorizer(load_model(w)) for w in args.ensemble]
        for p in val:
            p.mean_ab = (p.ab + sum(o.predict_ab([p.gray])[0][0] for o in others)) \
                / (1 + len(others))
        for g in ENSEMBLE_GAIN:
            rows.append((f"mean of {1 + len(others)} networks' ab, x{g}",
                         lambda p, g=g: g * p.mean_ab))

    print(f"{len(val)} validation pictures, {len(train)} training pictures; ridge alpha "
          f"{alpha} (5-fold CV on train); R^2 of the learned log gain on val: {r2:.2f}")
    print()
    print("| chroma after the network | PSNR vs gray, dB | AuC vs gray | colourfulness / "
          "originals' | worst picture vs gray, dB | pictures > 3 dB below gray |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, transform in rows:
        print(f"| {name} | {figures(val, transform)} |", flush=True)


if __name__ == "__main__":
    main()
