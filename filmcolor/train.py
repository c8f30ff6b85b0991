"""Training: a folder of colour images -> a saved model, by a named recipe.

Shares color.py (the exact input/target mapping used at inference) and the model code.
recipes.py holds `TrainConfig` and `RECIPES`, each shipped model's recipe: "unet" (the
default: the project's U-Net, random-scale crops, film-like input augmentation, a cosine
learning rate), "unet-studio" (the same with cut-outs on studio backdrops), "paper" (Fig.
2 with that data recipe), "paper-recipe" (Fig. 2 with the paper's own settings) and
"lite0-unet" / "lite1-unet" (the U-Net decoder on an ImageNet EfficientNet-Lite: trained
on the frozen encoder, then with its top blocks fine-tuned at a tenth of the rate).
Works on any Keras backend, CPU or GPU.
"""

import csv
import json
import logging
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import keras
import numpy as np

from . import augment, color
from .errors import DataError
from .image import find_images, read_image
from .losses import REGRESSION_LOSSES, regression_loss
from .models import TRAINABLE, build_model, crop_multiple
from .models.heap import keep_freed_memory
from .recipes import ENCODER_MODELS, RECIPES, TrainConfig, recipe_config  # noqa: F401

log = logging.getLogger("filmcolor")

AB_BIN = 10.0  # rebalancing histogram bin width in ab units (Zhang et al. use 10)
HELD_OUT = "test"  # a subfolder of --data that no training choice may see
CUTOUTS = "cutouts"  # a subfolder of --data holding RGBA cut-outs (scripts/make_cutouts.py)
MIN_TRAIN_IMAGES = 4  # usable (colour) images below which a run is refused


def load_pairs(paths, render_size):
    """Images -> list of (input H x W x 1, target H x W x 2) at render size."""
    pairs = []
    for p in paths:
        rgb, _ = read_image(p)
        rgb = color.resize_long_side(rgb, render_size)
        pairs.append(color.training_pair(rgb))
    return pairs


def usable(pairs, paths):
    """Drop gray images (nothing to learn from); refuse a set too small to train on."""
    keep = [i for i, (_, y) in enumerate(pairs) if _has_colour(y)]
    if len(keep) < MIN_TRAIN_IMAGES:
        raise DataError(f"{Path(paths[0]).parent if paths else '.'}: found {len(keep)} usable "
                        f"colour training images of {len(pairs)}; need at least "
                        f"{MIN_TRAIN_IMAGES}")
    if len(keep) < len(pairs):
        log.warning("skipping %d gray training images (no colour to learn)",
                    len(pairs) - len(keep))
    return [pairs[i] for i in keep]


def _has_colour(y):
    chroma = np.hypot(*np.moveaxis(color.decode_ab(y), -1, 0))
    return float((chroma > 10.0).mean()) >= 0.02


def split_paths(data, val_split, seed):
    """(train paths, val paths): a `val` subfolder if present, else a seeded fraction."""
    data = Path(data)
    everything = find_images(data)
    if not everything:
        raise DataError(f"{data}: no images found")
    held_out, cutouts = data / HELD_OUT, data / CUTOUTS
    everything = [p for p in everything
                  if held_out not in p.parents and cutouts not in p.parents]
    val_dir = data / val_split
    if val_dir.is_dir():
        val = find_images(val_dir)
        train = [p for p in everything if val_dir not in p.parents]
    else:
        try:
            frac = float(val_split)
        except ValueError:
            raise DataError(f"{data}: no '{val_split}' subfolder and not a fraction") from None
        order = np.random.default_rng(seed).permutation(len(everything))
        n_val = max(1, int(round(frac * len(everything))))
        val = [everything[i] for i in sorted(order[:n_val])]
        train = [everything[i] for i in sorted(order[n_val:])]
    if not train or not val:
        raise DataError(f"{data}: need both training and validation images "
                        f"({len(train)} train, {len(val)} val)")
    return train, val


def ab_weights(pairs, strength):
    if not 0 < strength <= 1:
        raise ValueError(f"rebalance strength must be in (0, 1], got {strength}")
    return _ab_weights(pairs, strength)


def _ab_weights(pairs, strength):
    """Class-rebalancing table over ab bins (Zhang et al. 2016, eq. 4): rare colours count more.

    w proportional to ((1 - strength) * p_smoothed + strength / Q) ** -1, normalised so the
    expected weight under the empirical distribution is 1.
    """
    import cv2

    n = int(round(256 / AB_BIN)) + 1
    hist = np.zeros((n, n), np.float64)
    for _, y in pairs:
        idx = _ab_bins(y)
        np.add.at(hist, (idx[..., 0].ravel(), idx[..., 1].ravel()), 1)
    p = hist / hist.sum()
    p_smooth = cv2.GaussianBlur(p, (0, 0), 0.5)  # sigma in bins
    q = int((hist > 0).sum())
    w = 1.0 / ((1 - strength) * p_smooth + strength / q)
    w /= (p * w).sum()
    return w.astype(np.float32)


def _ab_bins(y):
    ab = color.decode_ab(y)
    return np.clip(((ab + color.AB_OFFSET) / AB_BIN).round().astype(int), 0, int(round(256 / AB_BIN)))


def cutouts_folder(cfg):
    """The cut-out folder cfg asks for (None: none); "auto" is DATA/cutouts if present."""
    if not cfg.cutouts:
        return None
    if cfg.cutouts != "auto":
        return Path(cfg.cutouts)
    folder = Path(cfg.data) / CUTOUTS
    if folder.is_dir():
        return folder
    if cfg.paste > 0 or cfg.studio > 0:
        log.warning("%s: no cut-outs (scripts/make_cutouts.py makes them); training "
                    "without", folder)
    return None


def load_cutouts(folder, load_size):
    """RGBA cut-outs (scripts/make_cutouts.py) -> list of (input, target, alpha H x W x 1)."""
    paths = sorted(Path(folder).glob("*.png"))
    if not paths:
        raise DataError(f"{folder}: no cut-outs (*.png with alpha) found")
    out = []
    for p in paths:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 3 or img.shape[2] != 4:
            raise DataError(f"{p}: not an RGBA PNG (a cut-out needs its alpha channel)")
        rgb = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        alpha = img[..., 3].astype(np.float32) / 255.0
        s = min(1.0, load_size / max(img.shape[:2]))
        if s < 1.0:
            size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        x, y = color.training_pair(rgb)
        out.append((x, y, alpha[..., None]))
    return out


def _paste(x, y, cutout, rng, min_frac=0.35, max_frac=0.9):
    """Paste a cut-out onto the crop (x, y) at a random size, place and flip (copy-paste
    augmentation): luma and ab both blended by its alpha, so the target stays true."""
    cx, cy, ca = cutout
    size = x.shape[0]
    k = size * rng.uniform(min_frac, max_frac) / max(cx.shape[:2])
    w, h = max(1, round(cx.shape[1] * k)), max(1, round(cx.shape[0] * k))
    cx = cv2.resize(cx, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, 1)
    cy = cv2.resize(cy, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, 2)
    ca = cv2.resize(ca, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, 1)
    if rng.random() < 0.5:
        cx, cy, ca = cx[:, ::-1], cy[:, ::-1], ca[:, ::-1]
    r, c = rng.integers(0, x.shape[0] - h + 1), rng.integers(0, x.shape[1] - w + 1)
    x, y = x.copy(), y.copy()
    x[r:r + h, c:c + w] = ca * cx + (1.0 - ca) * x[r:r + h, c:c + w]
    y[r:r + h, c:c + w] = ca * cy + (1.0 - ca) * y[r:r + h, c:c + w]
    return x, y


def _backdrop(size, rng):
    """A synthetic studio backdrop: gray at a random level with a gradient and soft
    blotches, one faint tint (|a|, |b| <= 3), as behind the corpus' studio photographs."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    L = (rng.uniform(0.25, 0.9) + rng.uniform(-0.25, 0.25)
         * (np.cos(angle) * xx + np.sin(angle) * yy))
    blotch = cv2.resize(rng.normal(0, 0.03, (4, 4)).astype(np.float32), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    x = np.clip(L + blotch, 0.0, 1.0)[..., None].astype(np.float32)
    tint = color.encode_ab(rng.uniform(-3.0, 3.0, 2).astype(np.float32))
    return x, np.broadcast_to(tint, (size, size, 2)).astype(np.float32)


def _crop(x, y, size, rng, flip=True, scale_min=1.0):
    """A random size x size crop; with scale_min < 1 it covers a region 1 to 1/scale_min
    times larger, scaled down, so objects appear at several sizes."""
    region = size
    h, w = x.shape[:2]
    if scale_min < 1.0:
        region = int(round(size / rng.uniform(scale_min, 1.0)))
        # never past the picture: a reflected border would teach mirrored skies
        region = min(region, max(size, min(h, w)))
    if h < region or w < region:  # pad small images by reflection
        ph, pw = max(0, region - h), max(0, region - w)
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        y = np.pad(y, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        h, w = x.shape[:2]
    r, c = rng.integers(0, h - region + 1), rng.integers(0, w - region + 1)
    x, y = x[r:r + region, c:c + region], y[r:r + region, c:c + region]
    if region != size:
        x = cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA)[..., None]
        y = cv2.resize(y, (size, size), interpolation=cv2.INTER_AREA)
    if flip and rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    return x, y


class ABBins:
    """Quantised ab for the classification loss: the bins of a 10-unit grid that the
    training images use (Zhang et al. 2016 keep the 313 in gamut)."""

    def __init__(self, pairs, step=AB_BIN):
        from .models.unet import ab_bin_grid

        self.grid = ab_bin_grid(step)  # (n*n) x 2 ab centres
        self.n = int(round(np.sqrt(len(self.grid))))
        self.step = step
        counts = np.zeros(len(self.grid), np.int64)
        for _, y in pairs:
            np.add.at(counts, self._grid_index(y).ravel(), 1)
        self.kept = np.flatnonzero(counts)
        self.prior = (counts[self.kept] / counts.sum()).astype(np.float32)  # pixel shares
        # grid bin -> nearest kept bin (a colour no training image has maps to its neighbour)
        d = ((self.grid[:, None, :] - self.grid[None, self.kept, :]) ** 2).sum(-1)
        self.lut = d.argmin(axis=1).astype(np.int32)

    def _grid_index(self, y):
        ab = color.decode_ab(y)
        i = np.clip(np.rint((ab + 110.0) / self.step), 0, self.n - 1).astype(np.int32)
        return i[..., 0] * self.n + i[..., 1]

    def index(self, y):
        """ab code H x W x 2 -> kept-bin index H x W (int32)."""
        return self.lut[self._grid_index(y)]

    @property
    def centres_code(self):
        """Q x 2 bin centres as ab codes, the model's frozen decoding weights."""
        return color.encode_ab(self.grid[self.kept])


class CropDataset(keras.utils.PyDataset):
    """Random crops and flips; epoch e uses rng(seed, e) so a resumed run sees the same data.

    Yields (x, target[, weights]): the code at full size (MSE) or, with `bins`, the bin
    index at half size (classification, the U-Net's logits resolution)."""

    def __init__(self, pairs, batch_size, crop, steps, seed, weights=None, train=True,
                 bins=None, augment=False, scale_min=1.0, cutouts=None, paste=0.0,
                 studio=0.0, hints=False):
        super().__init__()
        self.hints = hints  # append a simulated hint map to each input (hints/simulate.py)
        self.cutouts, self.paste, self.studio = cutouts or [], paste, studio
        self.pairs, self.batch_size, self.crop, self.steps = pairs, batch_size, crop, steps
        self.seed, self.weights, self.train = seed, weights, train
        self.bins, self.augment, self.scale_min = bins, augment, scale_min
        self.epoch = 0
        if not train:  # validation: fixed crops, drawn once, never augmented
            rng = np.random.default_rng([seed, 10**6])
            self.fixed = [_crop(x, y, crop, rng, flip=False) for x, y in pairs]
            if hints:
                self.fixed = [(_with_hints(x, y, rng), y) for x, y in self.fixed]
            self.steps = -(-len(self.fixed) // batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            picks = rng.integers(0, len(self.pairs), self.batch_size)
            items = [_crop(*self.pairs[k], self.crop, rng, scale_min=self.scale_min)
                     for k in picks]
            if self.cutouts:  # drawn after the crops: the same crops as without
                pastes = rng.random(len(items)) < self.paste
                which = rng.integers(0, len(self.cutouts), len(items))
                studio = rng.random(len(items)) < self.studio  # instead of the crop
                items = [_paste(*_backdrop(self.crop, rng), self.cutouts[k], rng) if st
                         else _paste(x, y, self.cutouts[k], rng) if p else (x, y)
                         for (x, y), p, st, k in zip(items, pastes, studio, which)]
            if self.augment:
                items = [(augment.film_like(x, rng), y) for x, y in items]
            if self.hints:  # drawn last: the same crops and augmentation as without
                items = [(_with_hints(x, y, rng), y) for x, y in items]
        else:
            items = self.fixed[i * self.batch_size:(i + 1) * self.batch_size]
        x = np.stack([a for a, _ in items]).astype(np.float32)
        y = np.stack([b for _, b in items]).astype(np.float32)
        if self.bins is not None:  # targets where the logits are: half size
            y = y.reshape(len(y), y.shape[1] // 2, 2, y.shape[2] // 2, 2, 2).mean(axis=(2, 4))
            target = self.bins.index(y)
        else:
            target = y
        if self.weights is None:
            return x, target
        idx = _ab_bins(y)
        return x, target, self.weights[idx[..., 0], idx[..., 1]]


def _with_hints(x, y, rng):
    """x (L) with a hint map simulated from the target code y appended."""
    from .hints import model_channels
    from .hints.simulate import training_hints

    hint_ab, mask = training_hints(color.decode_ab(y), rng)
    return np.concatenate([x, model_channels(hint_ab, mask, x[..., 0])], axis=-1)


class _EpochSetter(keras.callbacks.Callback):
    """Tell the dataset the epoch, and reseed dropout from (seed, epoch): a resumed run then
    draws the same crops and the same dropout masks as an uninterrupted one."""

    def __init__(self, dataset, seed):
        super().__init__()
        self.dataset, self.seed = dataset, seed

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.epoch = epoch
        for i, layer in enumerate(self.model.layers):
            gen = getattr(layer, "seed_generator", None)
            if gen is not None:
                gen.state.assign(np.array([self.seed * 100_003 + epoch, i], dtype=gen.state.dtype))


class _Plotter(keras.callbacks.Callback):
    """Redraw loss.png and accuracy.png (the paper's Fig. 3 and 4) from the CSV log."""

    def __init__(self, out):
        super().__init__()
        self.out = Path(out)

    def on_epoch_end(self, epoch, logs=None):
        plot_log(self.out / "log.csv", self.out)


def plot_log(csv_path, out_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for key, title in (("loss", "Loss"), ("accuracy", "Accuracy")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, label in ((key, "train"), (f"val_{key}", "validation")):
            if k in rows[0]:
                ax.plot(epochs, [float(r[k]) for r in rows], label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        values = [float(r[k]) for r in rows for k in (key, f"val_{key}") if r.get(k)]
        if key == "loss" and min(values) > 0:  # log-mse is already a log, and negative
            ax.set_yscale("log")  # the first epoch's loss dwarfs the rest on a linear axis
        ax.set_title(f"{title} against epochs")
        ax.legend()
        fig.tight_layout()
        fig.savefig(Path(out_dir) / f"{key}.png", dpi=100)
        plt.close(fig)


def _best_val_loss(out):
    """Lowest val_loss logged by earlier runs in `out`, so a resume never replaces a better
    best.keras with a worse one."""
    path = Path(out) / "log.csv"
    if not path.is_file() or not (Path(out) / "best.keras").is_file():
        return None
    with open(path) as f:
        losses = [float(r["val_loss"]) for r in csv.DictReader(f) if r.get("val_loss")]
    return min(losses) if losses else None


class _SaveInference(keras.callbacks.Callback):
    """best.keras (lowest val_loss) and last.keras hold the inference model: sigmoid ab
    code out, as the engine runs it, even when the loss trained logits."""

    def __init__(self, model, out, best=None):
        super().__init__()
        self.inference, self.out, self.best = model, Path(out), best

    def on_epoch_end(self, epoch, logs=None):
        self._save(self.out / "last.keras")
        loss = (logs or {}).get("val_loss")
        if loss is not None and (self.best is None or loss < self.best):
            self.best = float(loss)
            self._save(self.out / "best.keras")

    def _save(self, path):
        # Where the inference model is the trained one (regression), Keras would save the
        # Adam state with it: twice the weights again. backup/ keeps that for resuming.
        optimizer = getattr(self.inference, "optimizer", None)
        self.inference.optimizer = None
        try:
            self.inference.save(path)
        finally:
            self.inference.optimizer = optimizer


def build_for(cfg, bins=None):
    """(inference model, model the loss trains) for cfg.model / cfg.loss."""
    if cfg.model == "paper":
        if cfg.loss not in REGRESSION_LOSSES:
            raise ValueError(f"the paper's network regresses the ab code: use a regression "
                             f"loss ({', '.join(REGRESSION_LOSSES)})")
        model = build_model(l2=cfg.l2, dropout=cfg.dropout, seed=cfg.seed)
        return model, model
    if cfg.model in ENCODER_MODELS:
        model = _encoder_model(cfg)
        return model, model
    if cfg.model != "unet":
        raise ValueError(f"unknown model {cfg.model!r} ({', '.join(TRAINABLE)})")
    from .models import unet

    if cfg.init:  # fine-tuning a trained U-Net, given hints if it took none
        if cfg.loss not in REGRESSION_LOSSES:
            raise ValueError("--init continues a regress-head U-Net: use a regression loss")
        model = _init_model(cfg.init)
        if cfg.hints and not unet.is_hint_model(model):  # a U-Net, or one before the gate
            model = unet.with_hints(model, seed=cfg.seed)
        elif unet.takes_hints(model) and not cfg.hints:
            raise ValueError(f"{cfg.init} takes hints: train it with --hints")
        return model, model
    if cfg.hints and cfg.loss == "classify":
        raise ValueError("the hint-taking U-Net regresses the ab code: use a regression loss")
    if cfg.loss == "classify":
        model = unet.build("classify", bins=bins.centres_code, l2=cfg.l2, seed=cfg.seed)
    elif cfg.loss in REGRESSION_LOSSES:
        model = unet.build("regress", l2=cfg.l2, seed=cfg.seed, hints=cfg.hints)
    else:
        raise ValueError(f"unknown loss {cfg.loss!r} ({', '.join(REGRESSION_LOSSES)}, "
                         f"classify)")
    return model, unet.training_model(model)


def _init_model(init):
    """The model a run starts from: a file, or a registered model's shipped file."""
    from .models import MODELS, load_model, shipped_weights

    return load_model(shipped_weights(init) if init in MODELS else init)


def _encoder_model(cfg):
    """The encoder U-Net for cfg: pretrained (or from cfg.init), encoder frozen, then
    unfrozen from cfg.fine_tune_from."""
    from .models import encoder_unet
    from .models.efficientnet import wheel_weights

    if cfg.loss not in REGRESSION_LOSSES:
        raise ValueError(f"{cfg.model} regresses the ab code: use a regression loss "
                         f"({', '.join(REGRESSION_LOSSES)})")
    variant = ENCODER_MODELS[cfg.model]
    pretrained = None
    if not cfg.init and cfg.pretrained:
        pretrained = wheel_weights(variant) if cfg.pretrained == "imagenet" else cfg.pretrained
    model = encoder_unet.build(variant, pretrained=pretrained, seed=cfg.seed)
    if cfg.init:
        model.set_weights(_init_model(cfg.init).get_weights())
    tuned = encoder_unet.unfreeze(model, cfg.fine_tune_from)
    if tuned:
        log.info("fine-tuning %d encoder layers (output stride >= %d) at %g x the rate",
                 len(tuned), cfg.fine_tune_from, cfg.encoder_rate)
    return model


def _frozen_phase(cfg):
    """Encoder models with frozen_epochs: train the decoder on the frozen encoder into
    OUT/frozen first (resumable like any run; skipped once complete), and return cfg for
    the fine-tuning phase, which starts from that phase's best model."""
    if cfg.model not in ENCODER_MODELS or not cfg.frozen_epochs or cfg.init:
        return cfg
    if cfg.frozen_epochs >= cfg.epochs:
        raise ValueError(f"frozen_epochs ({cfg.frozen_epochs}) must be fewer than epochs "
                         f"({cfg.epochs})")
    first = replace(cfg, out=str(Path(cfg.out) / "frozen"), epochs=cfg.frozen_epochs,
                    fine_tune_from=0, frozen_epochs=0)
    best = Path(first.out) / "best.keras"
    if not (Path(first.out) / "train.json").is_file():
        log.info("phase 1: %d epochs with the encoder frozen, into %s", first.epochs,
                 first.out)
        best = train(first)
    log.info("phase 2: %d epochs fine-tuning from %s", cfg.epochs - cfg.frozen_epochs, best)
    return replace(cfg, epochs=cfg.epochs - cfg.frozen_epochs, init=str(best))


def _optimizer(cfg, lr, model):
    """Adam; for an encoder model, the encoder's trainable weights at cfg.encoder_rate x."""
    factors = {}
    if cfg.model in ENCODER_MODELS:
        from .models.encoder_unet import encoder_layers

        factors = {w.path: cfg.encoder_rate for layer in encoder_layers(model)
                   for w in layer.trainable_weights}
    if factors:
        from .rates import ScaledAdam

        return ScaledAdam(lr, factors=factors, **_ema_args(cfg))
    return keras.optimizers.Adam(lr, **_ema_args(cfg))


def _ema_args(cfg):
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"ema momentum must be in [0, 1), got {cfg.ema}")
    return dict(use_ema=True, ema_momentum=cfg.ema) if cfg.ema else {}


def train(cfg: TrainConfig):
    """Train (or resume) into cfg.out; returns the path of the best model."""
    keep_freed_memory()  # half of a training step's time otherwise (models/heap.py)
    stride = crop_multiple(cfg.model)
    if cfg.crop % stride:
        raise ValueError(f"crop {cfg.crop} is not a multiple of {stride} (the {cfg.model}'s "
                         "stride)")
    cfg = _frozen_phase(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    train_paths, val_paths = split_paths(cfg.data, cfg.val_split, cfg.seed)
    log.info("training on %d images, validating on %d", len(train_paths), len(val_paths))
    t0 = time.time()
    train_pairs = usable(load_pairs(train_paths, cfg.load_size), train_paths)
    val_pairs = load_pairs(val_paths, cfg.render_size)
    weights = ab_weights(train_pairs, cfg.rebalance) if cfg.rebalance > 0 else None
    bins = ABBins(train_pairs) if cfg.loss == "classify" else None
    folder = cutouts_folder(cfg)
    cutouts = load_cutouts(folder, cfg.load_size) if folder else None
    if cutouts:
        log.info("pasting %d cut-outs onto %.0f%% of the crops (%.0f%% on studio backdrops)",
                 len(cutouts), 100 * cfg.paste, 100 * cfg.studio)
    train_ds = CropDataset(train_pairs, cfg.batch_size, cfg.crop, cfg.steps_per_epoch,
                           cfg.seed, weights, bins=bins, augment=cfg.augment,
                           scale_min=cfg.scale_min, cutouts=cutouts, paste=cfg.paste,
                           studio=cfg.studio, hints=cfg.hints)
    val_ds = CropDataset(val_pairs, cfg.batch_size, cfg.crop, 0, cfg.seed, None, train=False,
                         bins=bins, hints=cfg.hints)

    model, trained = build_for(cfg, bins)
    lr = cfg.learning_rate
    if cfg.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, cfg.epochs * cfg.steps_per_epoch,
                                                    alpha=0.02)
    elif cfg.schedule != "constant":
        raise ValueError(f"unknown schedule {cfg.schedule!r} (constant, cosine)")
    if cfg.loss == "classify":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")  # bin agreement
    else:
        if cfg.loss == "log-mse" and weights is not None:
            raise ValueError("log-mse weighs whole crops: it takes no --rebalance")
        loss = regression_loss(cfg.loss)
        # what Keras' "accuracy" means for this 2-channel output: argmax(a, b) agreement
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
    optimizer = _optimizer(cfg, lr, model)
    trained.compile(optimizer=optimizer, loss=loss, metrics=[accuracy])
    callbacks = [
        _EpochSetter(train_ds, cfg.seed),
        # resume: restores weights and the epoch counter after a crash or Ctrl-C (the raw
        # weights: it runs before the average is swapped in)
        keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=False),
        # from here to the next epoch the model holds the averaged weights, so the
        # checkpoints below save them (validation already ran on them)
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.ema > 0 else []),
        keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
        _SaveInference(model, out, best=_best_val_loss(out)),
        _Plotter(out),
    ]
    trained.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks,
                verbose=cfg.verbose)
    info = {
        "config": asdict(cfg),
        "train_images": len(train_paths),
        "val_images": len(val_paths),
        "params": model.count_params(),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "seconds_this_run": round(time.time() - t0, 1),
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "keras": keras.__version__,
    }
    (out / "train.json").write_text(json.dumps(info, indent=2) + "\n")
    return out / "best.keras"
