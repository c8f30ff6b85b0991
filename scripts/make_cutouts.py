#!/usr/bin/env python3
"""Photographic cut-outs (objects photographed, then freed of their background by an alpha
channel) from the corpus packages, for copy-paste augmentation in training.

    python scripts/make_cutouts.py data/corpus/cutouts [--corpus data/corpus]
                                   [--unpacked /tmp/corpus-work/unpacked] [--sheets DIR]

make_corpus.py drops every picture whose alpha channel is used: as a picture it is a
cut-out, not a photograph. Its opaque pixels are photographed colour all the same:
`filmcolor train` pastes them onto training crops (its default recipe takes DATA/cutouts;
weights/README.md says what each use measured). Kept: a used alpha channel with 15-97% of the pixels opaque, min side
>= MIN_SIDE, colour and enough distinct colours among the opaque pixels (the thresholds
of make_corpus.py), not a near-duplicate of another cut-out or of a corpus photograph,
and not in REJECT (drawings, renders, text, decided by looking at the --sheets contact
sheets). Only cut-outs whose group key falls in the train split are written, so nothing
of a validation or test picture's group is trained on.

Output: OUT/*.png (RGBA, long side <= --max-side), OUT/manifest.csv
(file,package,source_path,licence,copyright) and OUT/ATTRIBUTION.md. Run it after make_corpus.py: the corpus
photographs are what a cut-out must not repeat. make_corpus.py leaves OUT/cutouts alone,
and training never reads it as photographs.
"""

import argparse
import csv
import fnmatch
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_corpus as mc  # noqa: E402

MIN_OPAQUE, MAX_OPAQUE = 0.15, 0.97  # share of pixels with alpha >= 250
PACKAGES = ("tuxpaint-stamps-default", "gcompris-qt-data", "kalzium-data", "kphotoalbum",
            "plasma-workspace-data", "tuxpaint-data", "qtdeclarative5-examples", "renpy-demo",
            "opencv-doc", "mate-backgrounds", "enlightenment-data", "lxqt-themes")
# Decided by looking at the contact sheets (--sheets): what is drawn, painted or a
# screenshot, by folder pattern (fnmatch on the key) and then by key.
REJECT_PATTERNS = {
    '*/cartoon/*': 'drawing',
    '*lang/resource/words_sample/*': 'drawing',
    '*paintings/resource/image/*': 'painting',
    '*:usr/share/doc/HTML/*': 'screenshot',
}
REJECT = {
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/clothes/button.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/clothes/hats/propeller_hat.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/food/pizza.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/people/body_parts/eye.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/seasonal/christmas/Santa.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/seasonal/easter/bunny-egg.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/seasonal/easter/bunny.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/seasonal/easter/chick-hatched.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/seasonal/easter/chick.png': 'drawing',
    'tuxpaint-stamps-default:usr/share/tuxpaint/stamps/vehicles/ship/walnutBoat.png': 'drawing',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/lady_unicorn_4.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Pieter_Bruegel_service.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Pieter_Bruegel_fillette.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Van_Gogh_0011_5.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/babyshapes.rcc:gcompris/src/activities/babyshapes/resource/image/Van_Gogh_0011_1.webp': 'painting',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/chronos.rcc:gcompris/src/activities/chronos/resource/images/2.webp': 'drawing',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/core.rcc:gcompris/src/core/resource/gcompris-icon.png': 'drawing',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/core.rcc:gcompris/src/core/resource/aboutkde.png': 'drawing',
    'gcompris-qt-data:usr/share/gcompris-qt/rcc/solar_system.rcc:gcompris/src/activities/solar_system/resource/saturn.webp': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Artist Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Bookworm Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Card Shark Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Katie.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Mechanic Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Messenger Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Office Worker Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/PC Builder Konqi.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Virtual Reality Konqi.png': 'drawing',
    'tuxpaint-data:usr/share/tuxpaint/starters/frame_flowers.png': 'drawing',
    'tuxpaint-data:usr/share/tuxpaint/starters/frame_heart.png': 'drawing',
    'tuxpaint-data:usr/share/tuxpaint/starters/frame_neon.png': 'drawing',
    'qtdeclarative5-examples:usr/lib/x86_64-linux-gnu/qt5/examples/quick/customitems/maskedmousearea/images/cloud_1.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/eileen concerned.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/imagemap volume selected_hover.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/logo base.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/lucy happy.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/lucy mad.png': 'drawing',
    'enlightenment-data:usr/share/enlightenment/data/icons/web_browser.png': 'drawing',
    'plasma-workspace-data:usr/share/plasma/avatars/Scientist Konqi.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/eileen vhappy.png': 'drawing',
    'renpy-demo:usr/share/games/renpy/demo/game/images/imagemap volume selected_idle.png': 'drawing',
}


def analyse_cutout(img):
    """None when img is a usable cut-out, else the reason."""
    h, w = img.shape[:2]
    if min(h, w) < mc.MIN_SIDE:
        return "small"
    if img.ndim != 3 or img.shape[2] != 4:
        return "no-alpha"
    opaque = img[..., 3] >= 250
    share = float(opaque.mean())
    if share >= 0.999:  # the alpha channel unused: make_corpus.py's photographs
        return "no-alpha"
    if not MIN_OPAQUE <= share <= MAX_OPAQUE:
        return "opaque-share"
    px = img[..., :3][opaque]
    lab = cv2.cvtColor(px[None], cv2.COLOR_BGR2Lab)[0].astype(np.float32)
    chroma = np.hypot(lab[:, 1] - 128.0, lab[:, 2] - 128.0)
    if float((chroma > 10.0).mean()) < mc.MIN_COLOUR_FRACTION:
        return "gray"
    step = max(1, len(px) // 65536)
    uniq = len(np.unique(np.ascontiguousarray(px[::step]).view(np.dtype((np.void, 3)))))
    if uniq < mc.MIN_UNIQUE_COLOURS:
        return "few-colours"
    return None


def on_white(img):
    """BGR picture of an RGBA cut-out composited on white (for hashing and sheets)."""
    a = img[..., 3:4].astype(np.float32) / 255.0
    return (img[..., :3] * a + 255.0 * (1.0 - a)).round().astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to write the cut-outs to")
    ap.add_argument("--corpus", type=Path, help="make_corpus.py's OUT  [default: OUT's "
                                                 "parent folder]")
    ap.add_argument("--unpacked", type=Path, default=Path("/tmp/corpus-work/unpacked"))
    ap.add_argument("--max-side", type=int, default=384)
    ap.add_argument("--sheets", type=Path, help="write contact sheets of the survivors here")
    args = ap.parse_args(argv)

    # corpus photographs (every split): a cut-out that repeats one is left out
    args.corpus = args.corpus or args.out.parent
    seen = [mc.perceptual_keys(cv2.imread(str(p))) for split in ("train", "val", "test")
            for p in sorted((args.corpus / split).glob("*.png"))]
    if not seen:
        sys.exit(f"{args.corpus}: no corpus photographs; run make_corpus.py first")
    kept, counts = [], {}
    for package in PACKAGES:
        root = args.unpacked / package
        if not root.exists() and mc.fetch(package, args.unpacked) is None:
            continue
        paras = mc.parse_copyright(root / "usr/share/doc" / package / "copyright")
        sub = mc.PACKAGES[package]
        for src, lic_path, load, _ in mc.candidates(package, root, sub):
            key = f"{package}:{src}"
            img = mc.decode(load())
            reason = "undecodable" if img is None else analyse_cutout(img)
            if reason is None and (key in REJECT or any(
                    fnmatch.fnmatchcase(key, p) for p in REJECT_PATTERNS)):
                reason = "reviewed"
            if reason is None:
                gk = mc.group_key(package, src[len(sub) + 1:] if sub else src)
                if mc.split_of(gk) != "train":
                    reason = "held-out-split"
            if reason is None:
                keys = mc.perceptual_keys(on_white(img))
                if any(mc.near_duplicate(keys, other) for other in seen):
                    reason = "duplicate"
                else:
                    seen.append(keys)
            counts.setdefault(package, {}).setdefault(reason or "kept", 0)
            counts[package][reason or "kept"] += 1
            if reason:
                continue
            inner = src.split(":", 1)[1] if ":" in src else None
            lic, cr = mc.licence_for(paras, lic_path, inner if inner and inner != "jpeg"
                                     else None)
            kept.append({"key": key, "package": package, "src": src, "img": img,
                         "licence": lic, "copyright": cr})

    dest = args.out
    dest.mkdir(parents=True, exist_ok=True)
    for f in dest.glob("*.png"):
        f.unlink()
    rows = []
    for it in kept:
        img = it["img"]  # uint8: make_corpus.decode narrows 16-bit pictures
        h, w = img.shape[:2]
        if max(h, w) > args.max_side:
            s = args.max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))),
                             interpolation=cv2.INTER_AREA)
        name = mc.safe_name(it["key"])[:150] + ".png"
        cv2.imwrite(str(dest / name), img)
        rows.append((name, it["package"], it["src"], it["licence"], it["copyright"]))
    with open(dest / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [("file", "package", "source_path", "licence", "copyright"), *sorted(rows)])
    attribution = dest / "ATTRIBUTION.md"
    mc.write_attribution(attribution, [("train", *r) for r in rows], [])
    attribution.write_text(attribution.read_text().replace(
        "# Attribution for the filmcolor training corpus",
        "# Attribution for the filmcolor training cut-outs", 1))
    if args.sheets:
        def png_on_white(im):
            return cv2.imencode(".png", on_white(im))[1].tobytes()

        sheet_items = [{"key": it["key"], "w": it["img"].shape[1], "h": it["img"].shape[0],
                        "load": (lambda im=it["img"]: png_on_white(im))} for it in kept]
        mc.write_sheets(sheet_items, args.sheets)
    for package, c in counts.items():
        print(f"{package}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())),
              file=sys.stderr)
    print(f"{len(rows)} cut-outs in {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
