"""evaluation/photos.py: the still-image table, its gray baseline and the worst-image row."""

import re

import numpy as np
import pytest

from filmcolor.evaluation.photos import Scores, worst_vs_gray


def test_worst_vs_gray_is_the_lowest_per_image_gain():
    model, gray = Scores("m"), Scores("gray")
    for m, g in [(22.0, 21.0), (18.0, 20.5), (30.0, 29.0)]:
        model.add(psnr=m)
        gray.add(psnr=g)
    assert worst_vs_gray(model, gray) == pytest.approx(-2.5)
    assert worst_vs_gray(gray, gray) == 0.0


def test_eval_cli_table_has_every_row_and_a_gray_column(run_cli, tmp_path, make_image,
                                                        model_path):
    for i in range(3):
        make_image(f"photos/p{i}.png", kind="colour", size=(48, 64), seed=i)
    code, _ = run_cli("eval", "--data", tmp_path / "photos", "--weights", model_path,
                      "--model", "paper", "-q")
    assert code == 0
    out = run_cli.stdout
    assert out.startswith("3 images from")
    header = next(line for line in out.splitlines() if line.startswith("| metric"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "paper", "untrained", "gray (ab=0)"]
    worst = next(line for line in out.splitlines() if "worst image" in line)
    values = [float(v) for v in re.findall(r"[+-]\d+\.\d+", worst)]
    assert len(values) == 3 and values[-1] == 0.0
    ratio = next(line for line in out.splitlines() if "/ the source images'" in line)
    gray_ratio = float(ratio.strip("| \n").split("|")[-1])
    assert gray_ratio == pytest.approx(0.0, abs=0.01)
    assert np.isfinite(values).all()


def test_per_image_csv_lists_every_image_worst_first(run_cli, tmp_path, make_image,
                                                     model_path):
    import csv

    for i in range(3):
        make_image(f"photos/sub/p{i}.png", kind="colour", size=(48, 64), seed=i)
    dst = tmp_path / "scores.csv"
    code, err = run_cli("eval", "--data", tmp_path / "photos", "--weights", model_path,
                        "--model", "paper", "--per-image", dst, "-q")
    assert code == 0, err
    rows = list(csv.DictReader(dst.open()))
    assert sorted(r["image"] for r in rows) == [f"sub/p{i}.png" for i in range(3)]
    worst = [min(float(r["paper:psnr_minus_gray"]), float(r["untrained:psnr_minus_gray"]))
             for r in rows]
    assert worst == sorted(worst)
    for r in rows:  # the gain is the model's PSNR minus the gray image's
        assert float(r["paper:psnr"]) - float(r["gray_psnr"]) == pytest.approx(
            float(r["paper:psnr_minus_gray"]), abs=0.011)
    table_worst = next(line for line in run_cli.stdout.splitlines() if "worst image" in line)
    assert f"{min(float(r['paper:psnr_minus_gray']) for r in rows):+.2f}" in table_worst
    harmed = next(line for line in run_cli.stdout.splitlines() if "more than 3 dB" in line)
    counts = [int(v) for v in harmed.strip("| \n").split("|")[1:]]
    assert counts == [sum(float(r[f"{m}:psnr_minus_gray"]) < -3 for r in rows)
                      for m in ("paper", "untrained")] + [0]
