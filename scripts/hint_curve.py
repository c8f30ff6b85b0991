#!/usr/bin/env python3
"""The hint curve (Zhang et al. 2017, Fig. 4): PSNR and AuC against the number of
true-colour points given, for the hint model, for the same points spread without a
network (the guided spread the model starts from, and Levin et al. 2004), beside the
automatic default and gray.

    python scripts/hint_curve.py data/corpus/val --out runs/hint-curve
    python scripts/hint_curve.py DATA --out OUT --weights runs/unet-hints/best.keras \\
        --counts 0 2 --limit 3 --render-size 64                 # CI's smoke run

Each picture gets N points of 7 x 7 px at seeded random places at render size (the same
points for every column: `filmcolor eval --hints N` draws them so). Writes OUT/curve.csv
(one row per count and column), OUT/curve.md (the table) and OUT/curve.png (the plot).
"""

import argparse
import csv
from pathlib import Path

import numpy as np

from filmcolor.api import load_colorizer
from filmcolor.evaluation.photos import evaluate, harmed
from filmcolor.hints.levin import levin_colorizer
from filmcolor.hints.spread import spread_colorizer
from filmcolor.models import DEFAULT_HINTS_MODEL, DEFAULT_MODEL, shipped_weights
from filmcolor.options import DEFAULT_RENDER_SIZE

COUNTS = (0, 1, 2, 5, 10, 20, 50, 100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="folder of colour photos (the validation split)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--weights", type=Path, default=None,
                    help=f"the hint model (default: the shipped {DEFAULT_HINTS_MODEL})")
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    ap.add_argument("--limit", type=int, default=None, help="only the first N photos")
    ap.add_argument("--render-size", type=int, default=DEFAULT_RENDER_SIZE)
    ap.add_argument("--no-levin", action="store_true", help="skip Levin et al.'s fill (slow)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    size = args.render_size
    hinted = load_colorizer(args.weights or shipped_weights(DEFAULT_HINTS_MODEL), size, 1)
    automatic = load_colorizer(shipped_weights(DEFAULT_MODEL), size, 1)
    rows = []
    for n in args.counts:
        columns = {"hint model": hinted, "guided spread": spread_colorizer(size)}
        if not args.no_levin:
            columns["Levin et al. fill"] = levin_colorizer(size)
        if n == args.counts[0]:
            columns[f"{DEFAULT_MODEL} (automatic)"] = automatic
        scores, _, count, _ = evaluate(args.data, columns, limit=args.limit, render_size=size,
                                       hints=n)
        gray = scores[-1]
        for s in scores:
            rows.append(dict(points=n, column=s.name, images=count,
                             psnr=round(s.mean("psnr"), 3),
                             psnr_vs_gray=round(s.mean("psnr") - gray.mean("psnr"), 3),
                             auc=round(s.mean("auc"), 3),
                             auc_vs_gray=round(s.mean("auc") - gray.mean("auc"), 3),
                             harmed=harmed(s, gray)))
        print(f"{n} points: " + ", ".join(f"{s.name} {s.mean('psnr') - gray.mean('psnr'):+.2f} dB"
                                           for s in scores[:-1]), flush=True)
    with open(args.out / "curve.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "curve.md").write_text(table(rows))
    plot(rows, args.out / "curve.png")
    print(table(rows))


def table(rows):
    """PSNR and AuC over gray per count (rows) and column."""
    names = [r["column"] for r in rows if r["points"] == rows[0]["points"]
             and not r["column"].startswith("gray")]
    counts = sorted({r["points"] for r in rows})
    by = {(r["points"], r["column"]): r for r in rows}
    head = "| points | " + " | ".join(f"{n}: PSNR / AuC over gray" for n in names) + " |"
    lines = [head, "|---:|" + "---:|" * len(names)]
    for n in counts:
        cells = [f"{by[n, c]['psnr_vs_gray']:+.2f} dB / {by[n, c]['auc_vs_gray']:+.2f}"
                 if (n, c) in by else "" for c in names]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    gray = by[counts[0], next(r["column"] for r in rows if r["column"].startswith("gray"))]
    return "\n".join(lines) + (f"\n\nGray: {gray['psnr']:.2f} dB PSNR, {gray['auc']:.2f} AuC, "
                               f"{gray['images']} photos.\n")


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    names = dict.fromkeys(r["column"] for r in rows if not r["column"].startswith("gray"))
    for ax, key, label in ((axes[0], "psnr_vs_gray", "PSNR over gray (dB)"),
                           (axes[1], "auc_vs_gray", "AuC over gray (points)")):
        for name in names:
            pts = [(r["points"], r[key]) for r in rows if r["column"] == name]
            x = np.array([p for p, _ in pts], float)
            y = [v for _, v in pts]
            if len(pts) == 1:  # the automatic model: a level line
                ax.axhline(y[0], ls="--", color="gray", label=name)
            else:
                ax.plot(np.maximum(x, 0.5), y, "o-", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("true-colour points given (0 drawn at 0.5)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Colour from a few hints: validation photos")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
