"""`filmcolor eval`: gray colour images, colorize them, and score against the originals.

Every metric is averaged over images and reported beside the same metric for the gray
baseline (ab = 0: the black-and-white image itself) on the same images.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import color
from . import metrics
from ..engine import DEFAULT_RENDER_SIZE
from ..errors import DataError, ImageReadError
from ..image import find_images, read_image

log = logging.getLogger("filmcolor")

# name, definition shown in the table, higher is better
METRICS = [
    ("mse_paper", "paper 'MSE': mean sq. error of the sigmoid ab code (0..1), render size", False),
    ("accuracy_paper", "paper 'accuracy' (%): Keras argmax(a,b) agreement per pixel", True),
    ("psnr_paper", "paper 'PSNR': 10log10(255^2/MSE_code) - mixes scales, not dB", True),
    ("psnr", "PSNR (dB) of the RGB image, full size", True),
    ("ssim", "SSIM of the RGB image, full size", True),
    ("auc", "AuC (%) of the ab-error CDF, thresholds 0..150 (Zhang 2016)", True),
    ("colorfulness", "colourfulness (Hasler-Suesstrunk); source images: {source_cf:.1f}", True),
    ("ab_spread", "ab spread: std of ab within an image; source images: {source_spread:.1f}",
     True),
]


@dataclass
class Scores:
    """Per-image metric lists for one column of the table."""

    name: str
    values: dict = field(default_factory=lambda: {m[0]: [] for m in METRICS})

    def add(self, **kw):
        for k, v in kw.items():
            self.values[k].append(v)

    def mean(self, key):
        return float(np.mean(self.values[key]))


def score(pred_rgb, code_pred, truth_rgb, code_true):
    """All metrics of one colorized image against its colour original."""
    mse = metrics.paper_mse(code_pred, code_true)
    pred_lab = color.rgb_to_lab(pred_rgb)
    return dict(
        mse_paper=mse,
        accuracy_paper=100.0 * metrics.paper_accuracy(code_pred, code_true),
        psnr_paper=metrics.paper_psnr(mse),
        psnr=metrics.psnr_rgb(pred_rgb, truth_rgb),
        ssim=metrics.ssim_rgb(pred_rgb, truth_rgb),
        auc=100.0 * metrics.auc_ab(pred_lab[..., 1:], color.rgb_to_lab(truth_rgb)[..., 1:]),
        colorfulness=metrics.colorfulness(pred_rgb),
        ab_spread=metrics.ab_spread(pred_lab[..., 1:]),
    )


def evaluate(data, colorizers, limit=None, progress=False, render_size=DEFAULT_RENDER_SIZE,
             hints=0, seed=0):
    """Score each named Colorizer and the gray baseline on the images under `data`.

    `colorizers` maps column name -> engine.Colorizer (or anything with its predict_ab,
    such as hints.levin.levin_colorizer). Returns (columns, source figures, image count,
    failures); the source figures are a dict for the table's labels. `render_size` is
    where the baseline's paper metrics are taken. `hints`: that many true-colour points
    (hints.simulate.points) at render size, the same for every column that takes hints
    (drawn from `seed` and the image's index); the others get none.
    """
    paths = find_images(data)[:limit] if limit else find_images(data)
    if not paths:
        raise DataError(f"{data}: no images found")
    columns = {name: Scores(name) for name in colorizers}
    gray_col = Scores("gray (ab=0)")
    source_cf, source_spread, failures, images = [], [], {}, []
    it = paths
    if progress:
        from tqdm import tqdm

        it = tqdm(paths, unit="images", desc="eval", leave=False)
    for path in it:
        try:
            truth, _ = read_image(path)
        except ImageReadError as ex:
            failures[str(path)] = str(ex)
            log.warning("%s", ex)
            continue
        gray = color.luma(truth)
        images.append(str(Path(path).relative_to(data)) if Path(data).is_dir() else str(path))
        source_cf.append(metrics.colorfulness(truth))
        source_spread.append(metrics.ab_spread(color.rgb_to_lab(truth)[..., 1:]))
        given = [_true_points(truth, render_size, hints, [seed, len(images)])] if hints else None
        for name, cz in colorizers.items():
            (ab_small,), (gray_small,) = cz.predict_ab(
                [gray], given if getattr(cz, "takes_hints", False) else None)
            code_true = _code_true(truth, gray_small.shape)
            pred = color.compose(gray, color.chroma_offsets(gray_small, ab_small))
            columns[name].add(**score(pred, color.encode_ab(ab_small), truth, code_true))
        small_shape = color.resize_long_side(gray, render_size).shape
        gray_rgb = np.repeat(gray[..., None], 3, axis=-1)
        gray_col.add(**score(gray_rgb, np.full(small_shape + (2,), color.encode_ab(np.zeros(2))),
                             truth, _code_true(truth, small_shape)))
    if not source_cf:
        raise DataError(f"{data}: none of {len(paths)} images could be read")
    source = {"source_cf": float(np.mean(source_cf)),
              "source_spread": float(np.mean(source_spread)), "images": images,
              "image_cf": source_cf}
    return [*columns.values(), gray_col], source, len(source_cf), failures


def _true_points(truth, render_size, n, seed):
    """`n` points of the picture's own colours, drawn at render size (a hints.HintMap)."""
    from ..hints import HintMap
    from ..hints.simulate import points

    small = color.resize_long_side(truth, render_size)
    ab = color.rgb_to_lab(small)[..., 1:]
    return HintMap(*points(ab, n, np.random.default_rng(seed)))


def _code_true(truth, shape):
    small = color.resize_long_side(truth, max(shape))
    assert small.shape[:2] == shape, (small.shape, shape)
    return color.encode_ab(color.rgb_to_lab(small)[..., 1:])


HARM_DB = 3.0  # a picture this far below its gray version is a visible failure


def harmed(column, gray, db=HARM_DB):
    """How many images the column made more than `db` dB worse than gray."""
    return int(np.sum(np.subtract(column.values["psnr"], gray.values["psnr"]) < -db))


def worst_vs_gray(column, gray):
    """The lowest per-image RGB PSNR gain over the gray image (negative: below gray)."""
    return float(np.min(np.subtract(column.values["psnr"], gray.values["psnr"])))


def write_per_image(path, columns, source):
    """One CSV row per image: its colourfulness, then each column's PSNR, PSNR gain over
    gray, AuC and colourfulness; sorted worst gain first, so failures lead. Written to a
    temporary name and renamed, like every output."""
    import csv
    import io

    from ..image import write_atomic

    *models, gray = columns
    head = ["image", "source_colourfulness", "gray_psnr"]
    for c in models:
        head += [f"{c.name}:{k}" for k in ("psnr", "psnr_minus_gray", "auc", "colourfulness")]
    rows = []
    for i, name in enumerate(source["images"]):
        g = gray.values["psnr"][i]
        gains = [c.values["psnr"][i] - g for c in models]
        row = [name, round(source["image_cf"][i], 2), round(g, 2)]
        for c, gain in zip(models, gains):
            v = c.values
            row += [round(v["psnr"][i], 2), round(gain, 2), round(v["auc"][i], 2),
                    round(v["colorfulness"][i], 2)]
        rows.append((min(gains, default=0.0), row))
    rows.sort(key=lambda r: r[0])
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(head)
    writer.writerows(row for _, row in rows)
    write_atomic(Path(path), text.getvalue().encode("utf-8"))


def format_table(columns, source, n_images, data):
    """One plain-text table (also valid Markdown)."""
    head = ["metric", *[c.name for c in columns]]
    rows = []
    for key, desc, higher in METRICS:
        label = desc.format(**source)
        arrow = "higher is better" if higher else "lower is better"
        rows.append([f"{label} ({arrow})", *[f"{c.mean(key):.4f}" if key == "mse_paper"
                                             else f"{c.mean(key):.2f}" for c in columns]])
    gray = columns[-1]
    rows.append(["colourfulness / the source images' (higher is better)",
                 *[f"{c.mean('colorfulness') / source['source_cf']:.2f}" for c in columns]])
    rows.append(["worst image: PSNR minus gray's PSNR, dB (higher is better)",
                 *[f"{worst_vs_gray(c, gray):+.2f}" for c in columns]])
    rows.append([f"images more than {HARM_DB:g} dB below gray's PSNR (lower is better)",
                 *[str(harmed(c, gray)) for c in columns]])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    title = f"{n_images} images from {Path(data)}"
    return "\n".join([title, "", line(head), sep, *map(line, rows)])
