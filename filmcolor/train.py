"""Training: a folder of colour images -> a saved model, with the paper's recipe by default.

Shares color.py (the exact input/target mapping used at inference) and model.py. Images
are scaled so their long side is the render size, as at inference, then random crops and
flips feed Adam on MSE. Works on any Keras backend, CPU or GPU.
"""

import csv
import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from . import color
from .engine import DEFAULT_RENDER_SIZE
from .errors import DataError
from .image import find_images, read_image
from .model import build_model

log = logging.getLogger("filmcolor")

AB_BIN = 10.0  # rebalancing histogram bin width in ab units (Zhang et al. use 10)


@dataclass
class TrainConfig:
    data: str
    out: str
    epochs: int = 50
    batch_size: int = 16
    crop: int = 128
    steps_per_epoch: int = 100
    learning_rate: float = 1e-3
    l2: float = 0.01  # the paper's kernel regulariser
    dropout: float = 0.2
    rebalance: float = 0.0  # 0 = plain MSE (paper); >0 = weight pixels by rare ab colours
    render_size: int = DEFAULT_RENDER_SIZE
    val_split: str = "val"  # subfolder holding validation images, or a fraction like "0.15"
    seed: int = 0
    verbose: int = 2  # Keras fit(): 0 silent, 2 one line per epoch


def load_pairs(paths, render_size):
    """Images -> list of (input H x W x 1, target H x W x 2) at render size."""
    pairs = []
    for p in paths:
        rgb, _ = read_image(p)
        rgb = color.resize_long_side(rgb, render_size)
        pairs.append(color.training_pair(rgb))
    return pairs


def split_paths(data, val_split, seed):
    """(train paths, val paths): a `val` subfolder if present, else a seeded fraction."""
    data = Path(data)
    everything = find_images(data)
    if not everything:
        raise DataError(f"{data}: no images found")
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


def _crop(x, y, size, rng, flip=True):
    h, w = x.shape[:2]
    if h < size or w < size:  # pad small images (stamps) by reflection
        ph, pw = max(0, size - h), max(0, size - w)
        x = np.pad(x, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        y = np.pad(y, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        h, w = x.shape[:2]
    r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    x, y = x[r:r + size, c:c + size], y[r:r + size, c:c + size]
    if flip and rng.random() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    return x, y


class CropDataset(keras.utils.PyDataset):
    """Random crops and flips; epoch e uses rng(seed, e) so a resumed run sees the same data."""

    def __init__(self, pairs, batch_size, crop, steps, seed, weights=None, train=True):
        super().__init__()
        self.pairs, self.batch_size, self.crop, self.steps = pairs, batch_size, crop, steps
        self.seed, self.weights, self.train = seed, weights, train
        self.epoch = 0
        if not train:  # validation: fixed crops, drawn once
            rng = np.random.default_rng([seed, 10**6])
            self.fixed = [_crop(x, y, crop, rng, flip=False) for x, y in pairs]
            self.steps = -(-len(self.fixed) // batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            picks = rng.integers(0, len(self.pairs), self.batch_size)
            items = [_crop(*self.pairs[k], self.crop, rng) for k in picks]
        else:
            items = self.fixed[i * self.batch_size:(i + 1) * self.batch_size]
        x = np.stack([a for a, _ in items]).astype(np.float32)
        y = np.stack([b for _, b in items]).astype(np.float32)
        if self.weights is None:
            return x, y
        idx = _ab_bins(y)
        return x, y, self.weights[idx[..., 0], idx[..., 1]]


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
        if key == "loss":
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


def train(cfg: TrainConfig):
    """Train (or resume) into cfg.out; returns the path of the best model."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    train_paths, val_paths = split_paths(cfg.data, cfg.val_split, cfg.seed)
    log.info("training on %d images, validating on %d", len(train_paths), len(val_paths))
    t0 = time.time()
    train_pairs = load_pairs(train_paths, cfg.render_size)
    val_pairs = load_pairs(val_paths, cfg.render_size)
    weights = ab_weights(train_pairs, cfg.rebalance) if cfg.rebalance > 0 else None
    train_ds = CropDataset(train_pairs, cfg.batch_size, cfg.crop, cfg.steps_per_epoch,
                           cfg.seed, weights)
    val_ds = CropDataset(val_pairs, cfg.batch_size, cfg.crop, 0, cfg.seed, None, train=False)

    model = build_model(l2=cfg.l2, dropout=cfg.dropout, seed=cfg.seed)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="mse",
        # what Keras' "accuracy" means for this 2-channel output: argmax(a, b) agreement
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    callbacks = [
        _EpochSetter(train_ds, cfg.seed),
        # resume: restores weights and the epoch counter after a crash or Ctrl-C
        keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=False),
        keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
        keras.callbacks.ModelCheckpoint(str(out / "last.keras")),
        keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor="val_loss",
                                        save_best_only=True,
                                        initial_value_threshold=_best_val_loss(out)),
        _Plotter(out),
    ]
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks,
              verbose=cfg.verbose)
    info = {
        "config": asdict(cfg),
        "train_images": len(train_paths),
        "val_images": len(val_paths),
        "seconds_this_run": round(time.time() - t0, 1),
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "keras": keras.__version__,
    }
    (out / "train.json").write_text(json.dumps(info, indent=2) + "\n")
    return out / "best.keras"
