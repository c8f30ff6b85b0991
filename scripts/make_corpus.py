#!/usr/bin/env python3
"""Assemble the default offline training corpus from Debian packages.

    python scripts/make_corpus.py data/corpus

Downloads (apt-get download) and unpacks (dpkg -x) the packages named in DEVELOPERS.md,
keeps the colour still images, and writes them as PNG (long side at most --max-side) into
OUT/train and OUT/val plus OUT/manifest.csv. The split is fixed by file name: an image is
in val when sha1 of its group key falls in the lowest --val-percent of 100 buckets. Several
resolutions of one wallpaper share a group key, so they never straddle the split.
"""

import argparse
import csv
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

PACKAGES = {
    "tuxpaint-stamps-default": "usr/share/tuxpaint/stamps",
    "plasma-workspace-wallpapers": "usr/share/wallpapers",
    "mate-backgrounds": "usr/share/backgrounds",
    "opencv-doc": "usr/share/doc/opencv-doc/examples/data",  # still images only, no videos
}
IMAGE_EXT = {".png", ".jpg", ".jpeg"}
MIN_SIDE = 96  # smaller images are icons, not pictures
MIN_COLOUR_FRACTION = 0.05  # under 5% of pixels with chroma > 10: a gray image, not an example


def fetch(package, workdir):
    """apt-get download + dpkg -x; return the unpack root."""
    subprocess.run(["apt-get", "download", package], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    deb = next(Path(workdir).glob(f"{package}_*.deb"))
    root = Path(workdir) / package
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def group_key(package, rel):
    """Name shared by all resolutions of one picture."""
    if package == "plasma-workspace-wallpapers":
        return f"{package}/{rel.parts[0]}"  # Name/contents/images/1920x1080.jpg
    stem = re.sub(r"[_-]?\d{3,5}x\d{3,5}$", "", rel.with_suffix("").as_posix())
    return f"{package}/{stem}"


def in_val(key, percent):
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100 < percent


def load_rgb(path):
    """Read as RGB uint8; composite transparency over white (stamps are cut-outs)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3:
        return None
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def is_colour(rgb):
    # a fraction, not a mean: cut-out stamps on white are mostly white but still colour
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    return float((chroma > 10.0).mean()) >= MIN_COLOUR_FRACTION


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--unpacked", type=Path,
                    help="folder with the packages already unpacked (one subfolder each)")
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--val-percent", type=int, default=15)
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for package, sub in PACKAGES.items():
            root = args.unpacked / package if args.unpacked else fetch(package, tmp)
            base = root / sub
            groups = {}
            for path in sorted(base.rglob("*")):
                if path.suffix.lower() in IMAGE_EXT and path.is_file():
                    rel = path.relative_to(base)
                    groups.setdefault(group_key(package, rel), []).append(path)
            kept = 0
            for key, paths in sorted(groups.items()):
                # keep the largest file of a group: one picture, one training image
                path = max(paths, key=lambda p: p.stat().st_size)
                rgb = load_rgb(path)
                if rgb is None or min(rgb.shape[:2]) < MIN_SIDE or not is_colour(rgb):
                    continue
                h, w = rgb.shape[:2]
                if max(h, w) > args.max_side:
                    s = args.max_side / max(h, w)
                    rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
                split = "val" if in_val(key, args.val_percent) else "train"
                name = re.sub(r"[^A-Za-z0-9._-]+", "_", key) + ".png"
                dst = args.out / split / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(dst), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                rows.append((split, name, package, path.relative_to(root).as_posix()))
                kept += 1
            print(f"{package}: {kept} colour images from {len(groups)} pictures", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows([("split", "file", "package", "source_path"), *sorted(rows)])
    n_val = sum(r[0] == "val" for r in rows)
    print(f"{len(rows) - n_val} train, {n_val} val images in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
