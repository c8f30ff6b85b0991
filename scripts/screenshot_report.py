#!/usr/bin/env python3
"""Render a batch report in headless Chromium and save a screenshot, to look at it as a
person would.

    apt-get install chromium                     # Debian's package
    python scripts/screenshot_report.py colored/report.html report.png [--width 1100]

Exits 1 with one line if Chromium is missing or the page does not render.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# flags for a closed network: no background fetches, no first-run, a throwaway profile
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=900)
    args = ap.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("screenshot_report: chromium not found (apt-get install chromium)")
    if not args.report.is_file():
        sys.exit(f"screenshot_report: {args.report}: no such file")
    args.png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}",
               f"--window-size={args.width},{args.height}",
               f"--screenshot={args.png.resolve()}", args.report.resolve().as_uri()]
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120, check=False)
    if not args.png.is_file() or args.png.stat().st_size == 0:
        sys.exit(f"screenshot_report: {args.report}: chromium wrote no screenshot")
    print(f"{args.png}: {args.width}x{args.height} screenshot of {args.report}")


if __name__ == "__main__":
    main()
