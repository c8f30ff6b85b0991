"""The README's data and measurement scripts in scripts/, run as subprocesses at a tiny size
so they cannot rot unnoticed: make_corpus, make_cutouts, make_pan_clip, contact_sheet, the
measure_* scripts, pack_for_device and train_on_device.sh.

Nothing here reads data/corpus or the Debian packages (CI has neither) or downloads
anything: make_corpus/make_cutouts scan a fake tree of unpacked packages, the other
scripts read a corpus of generated colour photos in make_corpus.py's layout, and the
colour film they want (Megamind.avi, absent here) is a clip make_pan_clip.py cuts from it.
The shipped weights are used as they are. Every script writes into tmp_path only, and each
test checks what the script printed or wrote, not just that it exited 0.
"""

import csv
import importlib.util
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
TIMEOUT = 300  # seconds a script may take on a loaded 2-core CI machine

pytestmark = pytest.mark.slow

CORPUS_SPLITS = {"train": 5, "val": 3, "test": 3}  # chroma gain's 5-fold CV needs 5 train
FILM_SHOTS, FILM_FRAMES = 2, 31  # measure_exemplars scores frames >= 30 from the exemplar


def run(cmd, env=None):
    """Run cmd from the repo root; assert it exits 0 (what it said, if not)."""
    cmd = [str(a) for a in cmd]
    # no __pycache__ in scripts/: the checkout stays as it is
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT,
                          env=env)
    assert proc.returncode == 0, (f"{cmd[1][:60]} exited {proc.returncode}\n--- stdout\n"
                                  f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")
    return proc


def run_script(name, *args, env=None):
    """scripts/NAME.py ARGS with this Python, or bash scripts/NAME.sh."""
    return run([*(["bash"] if name.endswith(".sh") else [sys.executable]), f"scripts/{name}",
                *args], env)


def table(text):
    """Body rows of the Markdown tables in text (not their header lines), as lists of
    stripped cells."""
    lines = text.splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line, after in zip(lines, lines[1:] + [""])
            if line.startswith("|") and not line.startswith("|---")
            and not after.startswith("|---")]


def photo(h, w, seed):
    """A colourful BGR uint8 'photo': smooth waves, a few discs of flat colour, grain. Each
    seed differs from the others by far more than make_corpus.py's duplicate threshold."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(0.5, 3.0, 3)
        img[..., c] = 0.5 + 0.35 * np.sin(2 * np.pi * (fx * xx / w + fy * yy / h) + 3 * ph)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.3) * min(h, w)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(img * 255, 0, 255).round().astype(np.uint8)


def cutout(h, w, seed, opaque=0.45):
    """A BGRA photo cut to an ellipse inside it covering about `opaque` of it."""
    rng = np.random.default_rng(seed + 1000)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h * rng.uniform(0.45, 0.55), w * rng.uniform(0.45, 0.55)
    ry = np.sqrt(opaque / np.pi) * h * rng.uniform(0.9, 1.1)
    rx = opaque * h * w / (np.pi * ry)
    alpha = np.where(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1, 255, 0)
    return np.dstack([photo(h, w, seed), alpha.astype(np.uint8)])


def write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path


def encoded(img, ext=".jpg"):
    ok, buf = cv2.imencode(ext, img, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def mc():
    """scripts/make_corpus.py as a module: its split rule picks the fake pictures' names."""
    spec = importlib.util.spec_from_file_location("make_corpus", SCRIPTS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # nothing in scripts/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A stand-in for data/corpus (make_corpus.py's OUT): PNG colour photos in train/, val/
    and test/, RGBA cut-outs in cutouts/, and manifest.csv."""
    root = tmp_path_factory.mktemp("corpus")
    rows, seeds = [], itertools.count(1)
    for split, n in CORPUS_SPLITS.items():
        for i in range(n):
            # one training photo over the load size (384), which pack_for_device shrinks
            h, w = (400, 520) if (split, i) == ("train", 0) else (160, 208)
            name = f"{split}/fake_photo_{i}.png"
            write(root / name, photo(h, w, next(seeds)))
            rows.append((split, name, "fake-package", f"usr/share/fake/{i}.png", "CC0-1.0",
                         "nobody"))
    for i in range(2):
        write(root / "cutouts" / f"fake_cutout_{i}.png", cutout(144, 144, next(seeds)))
    with open(root / "manifest.csv", "w", newline="") as f:
        csv.writer(f).writerows(
            [("split", "file", "package", "source_path", "licence", "copyright"), *rows])
    return root


@pytest.fixture(scope="module")
def film(corpus, tmp_path_factory):
    """A colour film standing in for Megamind.avi (MPEG-4 Part 2 in AVI, grainy, with cuts):
    make_pan_clip.py's film-like clip of the stand-in's training photos (--objects takes
    two per shot)."""
    out = tmp_path_factory.mktemp("film") / "film.avi"
    run_script("make_pan_clip.py", corpus / "train", out, "--shots", FILM_SHOTS, "--frames",
               FILM_FRAMES, "--objects", "--film-like")
    return out


# ----------------------------------------------------------------------------- the corpus


def name_in(mc, package, pattern, split, taken=()):
    """The package path of the first pattern.format(i) (relative to the package's PACKAGES
    folder) whose group key falls in `split` (sha1 buckets), other than those taken."""
    sub = mc.PACKAGES[package]
    for i in itertools.count():
        rel = pattern.format(i)
        path = f"{sub}/{rel}" if sub else rel
        if mc.split_of(mc.group_key(package, rel)) == split and path not in taken:
            return path


@pytest.fixture(scope="module")
def packages(mc, tmp_path_factory):
    """A fake --unpacked tree: every package of make_corpus.PACKAGES present (a missing one
    would be fetched with apt-get), a few holding one picture of each case the filters
    decide. Returns (root, {kept key: split}, {cut-out key: split})."""
    root = tmp_path_factory.mktemp("unpacked")
    for package in mc.PACKAGES:
        (root / package).mkdir()
    kept, seeds = {}, itertools.count(100)

    def put(package, rel, data):
        path = root / package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return f"{package}:{rel}"

    mate = "mate-backgrounds"
    (root / mate / "usr/share/doc" / mate).mkdir(parents=True)
    (root / mate / "usr/share/doc" / mate / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: mate-backgrounds\n\nFiles: *\nCopyright: 2020 A. Photographer\n"
        "License: CC-BY-SA-4.0\n")
    first = photo(240, 320, next(seeds))
    for split in ("train", "train", "val", "test"):
        rel = name_in(mc, mate, "fake/photo-{}.jpg", split,
                      taken={k.split(":", 1)[1] for k in kept})
        img = first if not kept else photo(240, 320, next(seeds))
        kept[put(mate, rel, encoded(img))] = split
    # a smaller copy of the first in another package: the largest copy is kept
    put("lomiri-wallpapers-16.04", "usr/share/wallpapers/copy.jpg",
        encoded(cv2.resize(first, (192, 144), interpolation=cv2.INTER_AREA)))
    put(mate, "usr/share/backgrounds/fake/small.png", encoded(photo(100, 100, 1), ".png"))
    put(mate, "usr/share/backgrounds/fake/gray.png",
        encoded(cv2.cvtColor(photo(200, 200, 2), cv2.COLOR_BGR2GRAY), ".png"))
    put(mate, "usr/share/backgrounds/fake/broken.jpg",
        np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    # alpha used on its 1-pixel border (2%): not a photograph, too opaque for a cut-out
    framed = np.dstack([photo(200, 200, 3), np.full((200, 200), 255, np.uint8)])
    framed[[0, -1], :, 3] = framed[:, [0, -1], 3] = 0
    put(mate, "usr/share/backgrounds/fake/frame.png", encoded(framed, ".png"))
    put("lxqt-themes", "usr/share/icons/fake/photo.png", encoded(photo(200, 200, 4), ".png"))
    # a package with an INCLUDE list: only its listed pictures are kept
    toolpics = "usr/share/kalzium/data/toolpics"
    key = put("kalzium-data", f"{toolpics}/abzug.jpg", encoded(photo(200, 260, next(seeds))))
    kept[key] = mc.split_of(mc.group_key("kalzium-data", f"{toolpics}/abzug.jpg"))
    put("kalzium-data", f"{toolpics}/not-listed.jpg", encoded(photo(200, 260, next(seeds))))
    # an Eet background: several sizes of one photo; the largest is kept
    big = photo(300, 400, next(seeds))
    rel = "usr/share/enlightenment/data/backgrounds/Fake.edj"
    key = put("enlightenment-data", rel, b"Eet\0" + encoded(cv2.resize(big, (200, 150)))
              + b"\0" * 64 + encoded(big))
    kept[f"{key}:jpeg"] = mc.split_of(mc.group_key("enlightenment-data", f"{rel}:jpeg"))

    # cut-outs (make_cutouts.py): two kept, one copy of the first, one in a reviewed
    # folder, one of a held-out split's group
    stamps, cut = "tuxpaint-stamps-default", {}
    a = cutout(200, 200, next(seeds))
    for pattern, split, img in [("animals/fake-a{}.png", "train", a),
                                ("animals/fake-b{}.png", "train", cutout(180, 220, next(seeds))),
                                ("vehicles/fake-copy{}.png", "train", a),
                                ("cartoon/fake-c{}.png", "train", cutout(200, 200, next(seeds))),
                                ("animals/fake-held{}.png", "val", cutout(200, 200, next(seeds)))]:
        cut[put(stamps, name_in(mc, stamps, pattern, split), encoded(img, ".png"))] = split
    return root, kept, cut


@pytest.fixture(scope="module")
def made_corpus(packages, tmp_path_factory):
    root, _, _ = packages
    tmp = tmp_path_factory.mktemp("made")
    out = tmp / "corpus"
    proc = run_script("make_corpus.py", out, "--unpacked", root, "--cache",
                      tmp / "analysis.json", "--max-side", 256, "--sheets", tmp / "sheets")
    return out, proc


def test_make_corpus(made_corpus, packages):
    out, proc = made_corpus
    _, kept, _ = packages
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {f"{r['package']}:{r['source_path']}": r["split"] for r in rows} == kept
    for r in rows:
        img = cv2.imread(str(out / r["file"]), cv2.IMREAD_UNCHANGED)
        assert r["file"].startswith(f"{r['split']}/") and img.ndim == 3 and img.shape[2] == 3
        assert max(img.shape[:2]) == 256  # every kept source is larger than --max-side
        if r["package"] == "mate-backgrounds":
            assert (r["licence"], r["copyright"]) == ("CC-BY-SA-4.0", "2020 A. Photographer")
        if r["source_path"].endswith(".edj:jpeg"):
            assert img.shape[:2] == (192, 256)  # the 300x400 copy, not the 150x200 one
    assert sorted(p.relative_to(out).as_posix() for s in ("train", "val", "test")
                  for p in (out / s).glob("*.png")) == sorted(r["file"] for r in rows)
    err = proc.stderr
    assert ("mate-backgrounds: 8 candidates, 4 kept; excluded: alpha 1, gray 1, small 1, "
            "undecodable 1") in err
    assert "lomiri-wallpapers-16.04: 1 candidates, 0 kept; excluded: duplicate 1" in err
    assert "kalzium-data: 2 candidates, 1 kept; excluded: not-photo 1" in err
    assert "enlightenment-data: 1 candidates, 1 kept" in err
    assert "lxqt-themes: 0 candidates" in err  # usr/share/icons is never searched
    assert "tuxpaint-stamps-default: 5 candidates, 0 kept; excluded: alpha 5" in err
    n = {s: sum(v == s for v in kept.values()) for s in ("train", "val", "test")}
    assert f"{n['train']} train, {n['val']} val, {n['test']} test images in {out}" in err
    attribution = (out / "ATTRIBUTION.md").read_text()
    assert "## mate-backgrounds (4 images)" in attribution
    assert "licence **CC-BY-SA-4.0**, copyright: 2020 A. Photographer" in attribution
    index = (out.parent / "sheets" / "index.tsv").read_text().splitlines()
    assert len(index) == len(kept) and (out.parent / "sheets" / "sheet_000.png").is_file()


def test_make_cutouts(made_corpus, packages):
    corpus, _ = made_corpus
    root, _, cut = packages
    out = corpus / "cutouts"  # --corpus defaults to OUT's parent: make_corpus.py's OUT
    proc = run_script("make_cutouts.py", out, "--unpacked", root, "--sheets",
                      corpus.parent / "cut-sheets")
    want = sorted(k for k, s in cut.items() if s == "train"
                  and "/cartoon/" not in k and "/vehicles/" not in k)
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(f"{r['package']}:{r['source_path']}" for r in rows) == want
    assert sorted(p.name for p in out.glob("*.png")) == sorted(r["file"] for r in rows)
    for r in rows:
        img = cv2.imread(str(out / r["file"]), cv2.IMREAD_UNCHANGED)
        assert img.shape[2] == 4 and 0.15 < float((img[..., 3] >= 250).mean()) < 0.97
    assert (out / "ATTRIBUTION.md").read_text().startswith(
        "# Attribution for the filmcolor training cut-outs")
    assert ("tuxpaint-stamps-default: duplicate 1, held-out-split 1, kept 2, reviewed 1"
            in proc.stderr)
    assert ("mate-backgrounds: no-alpha 5, opaque-share 1, small 1, undecodable 1"
            in proc.stderr)
    assert f"2 cut-outs in {out}" in proc.stderr
    assert len((corpus.parent / "cut-sheets" / "index.tsv").read_text().splitlines()) == 2


# ----------------------------------------------------------------------------- clips, sheets


@pytest.mark.parametrize("flags, codec", [
    ([], "ffv1"),
    (["--objects"], "ffv1"),
    (["--objects", "--film-like"], "mpeg4"),
], ids=["pans", "objects", "film-like"])
def test_make_pan_clip(corpus, tmp_path, flags, codec):
    out = tmp_path / ("clip.avi" if "--film-like" in flags else "clip.mkv")
    proc = run_script("make_pan_clip.py", corpus / "train", out, "--shots", 2, "--frames", 5,
                      *flags)
    assert proc.stdout.strip() == f"{out}: 2 shots of 5 frames, 320x240"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no .part left
    with av.open(str(out)) as clip:
        assert clip.streams.video[0].codec_context.name == codec
        frames = [f.to_ndarray(format="rgb24") for f in clip.decode(video=0)]
    assert len(frames) == 10 and all(f.shape == (240, 320, 3) for f in frames)
    lab = cv2.cvtColor(frames[0], cv2.COLOR_RGB2Lab).astype(np.float32)
    assert np.hypot(lab[..., 1] - 128, lab[..., 2] - 128).mean() > 5  # colour, not gray
    for shot in (frames[:5], frames[5:]):  # each eases in and out: slow, fast, slow
        step = [np.abs(a.astype(int) - b).mean() for a, b in zip(shot, shot[1:])]
        assert min(step[1:3]) > max(step[0], step[3]) > 1, step


def test_contact_sheet(corpus, tmp_path):
    out = tmp_path / "sheet.jpg"
    models = ["unet", "unet-studio", "paper", "paper-recipe"]
    proc = run_script("contact_sheet.py", corpus / "test", out,
                      *[a for m in models for a in ("--model", m)], "--rows", 2,
                      "--height", 40, "--render-size", 64)
    assert f"{out}: 2 images x 6 columns" in proc.stderr
    sheet = cv2.imread(str(out))
    tile_w = round(208 * 40 / 160)  # the test photos are 160 x 208
    assert sheet.shape == (26 + 2 * (40 + 4), 6 * (tile_w + 4), 3)
    lab = cv2.cvtColor(sheet, cv2.COLOR_BGR2Lab).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)[26:]
    assert chroma[:, :tile_w].mean() < 2 < chroma[:, -tile_w - 4:-4].mean()  # gray | original


# ----------------------------------------------------------------------------- measurements


def figures(cells):
    """A figures row's PSNR, AuC, colourfulness, worst, failures, checked for form."""
    psnr, auc, cf, worst, fails = cells
    assert all(re.fullmatch(r"[+-]\d+\.\d\d", x) for x in (psnr, auc, worst)), cells
    assert re.fullmatch(r"\d+\.\d\d", cf) and re.fullmatch(r"\d+", fails), cells
    return float(psnr), float(auc), float(cf), float(worst), int(fails)


def test_measure_chroma_gain(corpus):
    proc = run_script("measure_chroma_gain.py", "--corpus", corpus, "--ensemble",
                      REPO / "weights/unet-studio.keras")
    head = proc.stdout.splitlines()[0]
    assert re.fullmatch(r"3 validation pictures, 5 training pictures; ridge alpha \d+ "
                        r"\(5-fold CV on train\); R\^2 of the learned log gain on val: "
                        r"-?\d+\.\d\d", head), head
    rows = {r[0]: figures(r[1:]) for r in table(proc.stdout)}
    assert len(rows) == 6 + 3 + 2 + 12 + 6 + 9 + 5  # every transform the README lists
    for name, (psnr, _, cf, worst, fails) in rows.items():
        assert worst <= psnr and 0 <= fails <= 3 and cf >= 0, name
    # colourfulness grows with a uniform gain on ab
    cf = [rows[f"uniform x{g}"][2] for g in (0.5, 1.0, 1.5)]
    assert cf[0] < cf[1] < cf[2]
    assert "mean of 2 networks' ab, x1.3" in rows


def test_choose_ensemble(corpus, tmp_path):
    models = [REPO / "weights/unet-studio.keras", REPO / "weights/paper.keras"]
    args = [corpus / "val", *models, "--gain", "1", "1.5", "--cache", tmp_path / "cache"]
    proc = run_script("choose_ensemble.py", *args)
    assert re.match(r"3 photos, 2 models predicted in \d+ s \(0 read from --cache\)",
                    proc.stdout)
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r" *([+-]\d+\.\d\d) +([+-]\d+\.\d\d) +(\d+\.\d\d) +(\d+) "
                         r"+([+-]\d+\.\d\d)  (.+)", line)
        if m:
            rows[m[6]] = [float(x) for x in m.groups()[:5]]
    both = "unet-studio + paper (mirrored)"
    # each model plain and mirrored, the pair mirrored, each at both gains
    assert set(rows) == {f"{n}{g}" for n in ("unet-studio", "unet-studio (mirrored)", "paper",
                                             "paper (mirrored)", both)
                         for g in ("", " x1.5")}, sorted(rows)
    for name, (psnr, _, cf, fails, worst) in rows.items():
        assert worst <= psnr and 0 <= fails <= 3, name
        if not name.endswith("x1.5"):
            assert rows[name + " x1.5"][2] > cf, name  # a gain adds colour
    # the second run reads every model's predictions from the cache
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 2
    again = run_script("choose_ensemble.py", *args)
    assert re.match(r"3 photos, 2 models predicted in \d+ s \(2 read from --cache\)",
                    again.stdout)
    assert again.stdout.split("\n", 1)[1] == proc.stdout.split("\n", 1)[1]


def test_make_ensemble(tmp_path):
    from filmcolor import models as fmodel

    out = tmp_path / "ens.keras"
    proc = run_script("make_ensemble.py", out, REPO / "weights/unet-studio.keras",
                      REPO / "weights/paper.keras", "--gain", "1.5")
    assert proc.stdout.startswith(f"{out}: 2 members and their mirrored runs, gain 1.5, ")
    model = fmodel.load_model(out)  # safe mode
    assert model.name == "filmcolor_ensemble" and model.get_layer("chroma_gain").gain == 1.5
    assert {"filmcolor_unet", fmodel.PAPER_NAME} <= {layer.name for layer in model.layers}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.keras"]


BUILD_CLASSIFIER = """
import sys
from filmcolor.models import import_keras
import_keras()
from filmcolor.train import ABBins, TrainConfig, build_for, load_pairs, split_paths, usable
cfg = TrainConfig(data=sys.argv[1], out="", loss="classify")
paths, _ = split_paths(cfg.data, cfg.val_split, cfg.seed)
model, _ = build_for(cfg, ABBins(usable(load_pairs(paths, cfg.load_size), paths)))
model.save(sys.argv[2])
"""


def test_measure_decodings(corpus, tmp_path):
    # an untrained classify-head U-Net with the bins `filmcolor train --loss classify` gives
    # on the stand-in's training split, which the script checks (training it costs 15 s)
    cls = tmp_path / "cls.keras"
    run([sys.executable, "-c", BUILD_CLASSIFIER, corpus, cls])
    # one decoding (each costs a model and its trace), neither T nor prior as trained
    proc = run_script("measure_decodings.py", cls, "--corpus", corpus, "--temperature", 0.2,
                      "--strength", 0.5, "--save", tmp_path / "dec")
    lines = proc.stdout.splitlines()
    assert re.fullmatch(rf"{re.escape(str(cls))} \(trained at T 0\.38\); 3 validation "
                        r"pictures; prior over \d+ bins from the training split", lines[0]), \
        lines[0]
    rows = table(proc.stdout)
    assert [r[:2] for r in rows] == [["0.2", "0.5"]]
    figures(rows[0][2:])
    assert [p.name for p in (tmp_path / "dec").iterdir()] == ["cls-T0.2-prior0.5.keras"]


def test_measure_exemplars(corpus, film):
    proc = run_script("measure_exemplars.py", "--corpus", corpus, "--film", film, "--smoke")
    titles = [line for line in proc.stdout.splitlines()
              if line and not line.startswith("|")]
    assert titles[0] == ("Validation split (3 photos, render size 64); exemplar: the "
                         "training photo with the most similar colours")
    m = re.fullmatch(r"film\.avi, every 3rd frame at least 30 frames from the exemplar, its "
                     r"shot's first frame \((\d+) frames, render size 64\)", titles[1])
    assert m and int(m[1]) == FILM_SHOTS, titles[1]  # frame 30 of each 31-frame shot
    m = re.fullmatch(r"film\.avi, every 3rd frame, exemplar: the next shot's first frame "
                     r"\((\d+) frames\)", titles[2])
    assert m and int(m[1]) == FILM_SHOTS * len(range(0, FILM_FRAMES, 3)), titles[2]
    rows = table(proc.stdout)
    names = ["gray", "model alone", *[f"exemplar, weight {w}" for w in (0.3, 0.6, 0.8, 1.0)]]
    assert [r[0] for r in rows] == names * 3
    for k in range(3):
        block = rows[6 * k:6 * k + 6]
        assert block[0][3] == "+0.00"  # gray against itself
        for r in block:
            assert 5 < float(r[1]) < 60 and 0 < float(r[2]) <= 100, r
    # a true-colour frame of the same shot pulls the colours towards the truth
    same = {r[0]: float(r[2]) for r in rows[6:12]}
    assert same["exemplar, weight 0.8"] > same["model alone"] + 1, same


def test_measure_flicker_floor(film):
    proc = run_script("measure_flicker_floor.py", film, "--render-size", 64,
                      "--chroma", 0, 10)
    lines = proc.stdout.splitlines()
    assert lines[0] == f"film.avi: ab flicker at render size 64, within shots ({FILM_SHOTS} shots)"
    rows = {}
    for line in lines[1:]:
        m = re.fullmatch(r"  (.+?) +flicker +(\d+\.\d{3})   mean chroma as written +(\d+\.\d)",
                         line)
        assert m, line
        rows[m[1]] = float(m[2]), float(m[3])
    own, zero, ten = (rows["the film's own colours"], rows["one constant colour, |ab| = 0"],
                      rows["one constant colour, |ab| = 10"])
    assert zero == (0.0, 0.0)
    assert 5 < ten[1] <= 11  # written as asked, less where the luma is dark or clipped
    assert own[0] > ten[0] > zero[0]  # the film's own colours flicker most


# ----------------------------------------------------------------------------- the GPU machine


@pytest.fixture(scope="module")
def packed(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("device") / ".device"
    proc = run_script("pack_for_device.py", corpus, "--out", out, "--no-wheels")
    return out, proc


def test_pack_for_device(packed, corpus):
    out, proc = packed
    assert re.search(rf"{re.escape(str(out))}: \d+\.\d MiB \(limit 64 MiB", proc.stderr)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        sorted([f"corpus/{s}/fake_photo_{i}.jpg" for s in ("train", "val")
                for i in range(CORPUS_SPLITS[s])]
               + [f"corpus/cutouts/fake_cutout_{i}.png" for i in range(2)])  # no test/
    big = cv2.imread(str(out / "corpus/train/fake_photo_0.jpg"))
    assert big.shape == (295, 384, 3)  # 400 x 520 at the recipe's load size
    src = cv2.imread(str(corpus / "val/fake_photo_0.png"))
    packed_val = cv2.imread(str(out / "corpus/val/fake_photo_0.jpg"))
    assert cv2.PSNR(src, packed_val) > 25  # JPEG q92 of a grainy photo, same size
    for i in range(2):
        name = f"cutouts/fake_cutout_{i}.png"
        assert (out / "corpus" / name).read_bytes() == (corpus / name).read_bytes()


def test_train_on_device(packed, tmp_path):
    device, _ = packed
    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    # XLA's optimisation level 0: compiling unet's ~60 small JAX programs on a 2-core CPU
    # takes ~4x less; the device run keeps the default
    run_script("train_on_device.sh", env={
        "SMOKE": "1", "EPOCHS": "1", "DEVICE": str(device), "OUT": str(out),
        "WORK": str(work), "RUNS": "run=unet-studio,seed=3",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_backend_optimization_level=0"})
    # what comes back: the logs in one archive, the model in parts of at most 15 MiB
    assert sorted(p.name for p in out.iterdir()) == ["logs.tgz", "run.keras.part00"]
    back = tmp_path / "back"
    back.mkdir()
    subprocess.run(["tar", "-xzf", out / "logs.tgz", "-C", back], check=True)
    log = (back / "run.log").read_text()
    assert re.search(r"^8 crops in \d+ s: \d+\.\d crops/s$", log, re.M), log[-2000:]
    assert (out / "run.keras.part00").read_bytes() == (work / "run/best.keras").read_bytes()
    folder = back / "run"
    with open(folder / "log.csv", newline="") as f:
        epochs = list(csv.DictReader(f))
    assert len(epochs) == 1 and math.isfinite(float(epochs[0]["val_loss"]))
    info = json.loads((folder / "train.json").read_text())
    assert info["backend"] == "jax"
    assert (info["train_images"], info["val_images"]) == (5, 3)
    cfg = info["config"]
    assert (cfg["data"], cfg["epochs"], cfg["steps_per_epoch"], cfg["batch_size"]) == \
        (str(device / "corpus"), 1, 2, 4)
    assert cfg["seed"] == 3  # RUNS' override on top of the recipe
    assert (cfg["cutouts"], cfg["studio"]) == ("auto", 0.25)  # unet-studio's recipe
