#!/usr/bin/env python3
"""Write an ensemble of trained colorizers: the mean of their ab, each also on the
mirrored picture, times an optional gain (filmcolor/models/ensemble.py).

    python scripts/make_ensemble.py weights/ensemble.json weights/unet-studio.keras \
        weights/lite0-unet.keras runs/lite1-unet/best.keras [--gain 1.15] [--no-mirror]

OUT.json is a manifest naming the member files (relative to it), OUT.keras one file
holding them all; either loads in safe mode like any model file (`--weights OUT`).
Choose the members and the gain with scripts/choose_ensemble.py on the validation split.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("members", nargs="+", type=Path)
    ap.add_argument("--gain", type=float, default=1.0, help="the mean ab times this")
    ap.add_argument("--no-mirror", dest="mirror", action="store_false",
                    help="each member on the picture only, not also on its mirror image")
    args = ap.parse_args(argv)
    from filmcolor.models import ensemble

    model = ensemble.assemble(args.members, args.out, mirror=args.mirror, gain=args.gain)
    print(f"{args.out}: {len(args.members)} members{' and their mirrored runs' * args.mirror}"
          f", gain {args.gain:g}, {model.count_params():,} parameters")


if __name__ == "__main__":
    main()
