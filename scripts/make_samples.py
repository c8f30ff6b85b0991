#!/usr/bin/env python3
"""Make samples/: black-and-white versions of validation-split pictures (never trained on).

    python scripts/make_samples.py [--unpacked DIR]

ladybird_bw.jpg: mate-backgrounds' nature/LadyBird.jpg, Rec.601 luma, long side 1024.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import fetch, group_key, in_val  # noqa: E402

SAMPLES = [
    ("mate-backgrounds", "usr/share/backgrounds", "mate/nature/LadyBird.jpg", "ladybird_bw.jpg"),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--unpacked", type=Path, help="packages already unpacked, one folder each")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "samples")
    args = ap.parse_args(argv)
    args.out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for package, base, rel, name in SAMPLES:
            # a sample must come from the validation split, so it shows unseen pictures
            assert in_val(group_key(package, Path(rel)), 15), f"{rel} is in the training split"
            root = args.unpacked / package if args.unpacked else fetch(package, tmp)
            img = cv2.imread(str(root / base / rel), cv2.IMREAD_GRAYSCALE)
            h, w = img.shape
            s = 1024 / max(h, w)
            if s < 1:
                img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(args.out / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
            print(f"{args.out / name}: {img.shape[1]}x{img.shape[0]} from {package}:{rel}")


if __name__ == "__main__":
    main()
