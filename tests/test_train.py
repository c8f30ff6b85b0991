"""train.py end to end on a handful of generated images: run folder, determinism, resume,
rebalancing, the data split, and the `filmcolor train` command."""

import contextlib
import csv
import io
import json
import logging
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from filmcolor.__main__ import main
from filmcolor.errors import EXIT_OK, EXIT_USAGE, DataError
from filmcolor.models import load_model, shipped_model_files
from filmcolor.train import (
    RECIPES,
    TrainConfig,
    _ab_bins,
    ab_weights,
    load_pairs,
    recipe_config,
    split_paths,
    train,
)

# A large learning rate on purpose: val_loss then rises in the second epoch (2.7 -> 10.9 on
# these images), which the best-checkpoint-after-resume test needs; 2 steps stay finite.
LR = 0.3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOG_COLUMNS = {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}


def write_gradients(folder, n, seed, size=(40, 60)):
    """n smooth random colour gradients (bilinear between random corner colours) as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(n):
        corners = rng.random((2, 2, 3)).astype(np.float32)
        img = cv2.resize(corners, (w, h), interpolation=cv2.INTER_LINEAR)
        assert cv2.imwrite(str(folder / f"grad{i}.png"), np.rint(img * 255).astype(np.uint8))
    return sorted(folder.glob("*.png"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_gradients(root / "train", 4, seed=1)
    write_gradients(root / "val", 2, seed=2)
    return root


def tiny_config(data, out, **overrides):
    """The paper's recipe (Fig. 2 network), made tiny."""
    kw = dict(RECIPES["paper-recipe"], data=str(data), out=str(out), epochs=2,
              steps_per_epoch=2, batch_size=2, crop=32, render_size=64, load_size=64,
              learning_rate=LR, seed=0)
    kw.update(overrides)
    return TrainConfig(**kw)


def run_training(cfg):
    """train(cfg) with Keras' per-epoch lines captured; returns (best path, printed text)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        best = train(cfg)
    return best, printed.getvalue()


def read_log(out):
    with open(out / "log.csv", newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def weights_of(path):
    return load_model(path).get_weights()


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    """One uninterrupted 2-epoch run."""
    out = tmp_path_factory.mktemp("run")
    best, printed = run_training(tiny_config(data, out))
    return out, best, printed


# --- the run folder ----------------------------------------------------------------------

@pytest.mark.slow
def test_train_returns_best_checkpoint(run):
    out, best, _ = run
    assert best == out / "best.keras"


@pytest.mark.parametrize("name", ["best.keras", "last.keras"])
def test_checkpoints_are_loadable_models(run, name):
    model = load_model(run[0] / name)
    assert model.count_params() == 31_618


@pytest.mark.slow
def test_best_checkpoint_is_the_lowest_val_loss_and_last_the_final_epoch(run, resumed):
    out = run[0]
    _, rows = read_log(out)
    val = [float(r["val_loss"]) for r in rows]
    assert val[1] > val[0]  # LR makes epoch 2 worse, so best and last differ
    # the 1-epoch run of the `resumed` fixture is this run's epoch 0, bit for bit
    epoch0 = resumed[3]
    assert same_weights(weights_of(out / "best.keras"), epoch0)
    assert not same_weights(weights_of(out / "last.keras"), epoch0)


def test_log_csv_has_one_row_per_epoch(run):
    columns, rows = read_log(run[0])
    assert LOG_COLUMNS <= set(columns)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for r in rows:
        for key in LOG_COLUMNS - {"epoch"}:
            assert math.isfinite(float(r[key])), (key, r)
        assert 0.0 <= float(r["accuracy"]) <= 1.0


def test_keras_printed_each_epoch(run):
    printed = run[2]
    assert "Epoch 1/2" in printed and "Epoch 2/2" in printed


@pytest.mark.parametrize("name", ["loss.png", "accuracy.png"])
def test_plots_are_valid_pngs(run, name):
    data = (run[0] / name).read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (400, 600)  # 6 x 4 in at 100 dpi
    assert img.std() > 5  # a drawn figure, not a blank canvas


def test_train_json_records_the_run(run, data):
    info = json.loads((run[0] / "train.json").read_text())
    assert info["config"]["epochs"] == 2 and info["config"]["data"] == str(data)
    assert info["config"]["learning_rate"] == LR
    assert (info["train_images"], info["val_images"]) == (4, 2)
    assert info["backend"] == "tensorflow"
    assert info["seconds_this_run"] >= 0


@pytest.mark.slow
def test_same_seed_gives_identical_log(run, data, tmp_path):
    """Bit-identical on this CPU (TensorFlow, oneDNN); compare exactly."""
    run_training(tiny_config(data, tmp_path / "again"))
    _, first = read_log(run[0])
    _, second = read_log(tmp_path / "again")
    assert first == second


# --- resume ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def resumed(data, tmp_path_factory):
    """Train 1 epoch, then rerun the same folder with epochs=2."""
    out = tmp_path_factory.mktemp("resumed")
    _, printed_first = run_training(tiny_config(data, out, epochs=1))
    best_after_first = weights_of(out / "best.keras")
    _, printed_second = run_training(tiny_config(data, out, epochs=2))
    return out, printed_first, printed_second, best_after_first


def test_resume_log_has_epochs_0_and_1_once(resumed):
    _, rows = read_log(resumed[0])
    assert [int(r["epoch"]) for r in rows] == [0, 1]


def epoch_summaries(printed):
    """Keras (verbose=2) prints one "steps/steps - ...s - loss: ..." line per epoch trained."""
    return [line for line in printed.splitlines() if re.match(r"\d+/\d+ - .*loss: ", line)]


def test_resume_trains_only_the_missing_epoch(resumed, run):
    _, printed_first, printed_second, _ = resumed
    assert len(epoch_summaries(run[2])) == 2  # the counter works on an uninterrupted run
    assert len(epoch_summaries(printed_first)) == 1
    assert len(epoch_summaries(printed_second)) == 1
    assert "Epoch 2/2" in printed_second and "Epoch 1/2" not in printed_second


def test_resume_continues_from_saved_weights(resumed, run):
    """Crops and dropout masks are drawn from (seed, epoch), so a resumed run logs what the
    uninterrupted one did, to rounding (Adam's state is restored from the backup too); a
    restart from scratch would log a loss near epoch 0's (about 3x higher here)."""
    _, uninterrupted = read_log(run[0])
    _, rows = read_log(resumed[0])
    assert rows[0] == uninterrupted[0]
    assert float(rows[1]["loss"]) == pytest.approx(float(uninterrupted[1]["loss"]), rel=1e-3)
    assert float(rows[1]["loss"]) < 0.5 * float(rows[0]["loss"])


def test_resume_keeps_best_checkpoint_when_val_loss_gets_worse(resumed):
    out, _, _, best_after_first = resumed
    _, rows = read_log(out)
    assert float(rows[1]["val_loss"]) > float(rows[0]["val_loss"])  # precondition
    assert same_weights(weights_of(out / "best.keras"), best_after_first)


# --- class rebalancing -------------------------------------------------------------------

@pytest.fixture(scope="module")
def pairs(data):
    return load_pairs(sorted((data / "train").glob("*.png")), 64)


@pytest.mark.parametrize("strength", [0.1, 0.5, 0.9, 1.0])
def test_ab_weights_expected_weight_is_one(pairs, strength):
    w = ab_weights(pairs, strength)
    assert np.isfinite(w).all() and (w > 0).all()
    per_pixel = np.concatenate([w[_ab_bins(y)[..., 0], _ab_bins(y)[..., 1]].ravel()
                                for _, y in pairs])
    assert per_pixel.mean() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("strength", [0.1, 0.5, 0.9])
def test_ab_weights_favour_rare_colours(pairs, strength):
    w = ab_weights(pairs, strength)
    bins = np.concatenate([_ab_bins(y).reshape(-1, 2) for _, y in pairs])
    found, counts = np.unique(bins, axis=0, return_counts=True)
    common, rare = found[counts.argmax()], found[counts.argmin()]
    assert counts.max() > 10 * counts.min()  # precondition: the data has rare colours
    assert w[tuple(rare)] > w[tuple(common)]


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.5])
def test_ab_weights_rejects_strength_outside_range(pairs, strength):
    with pytest.raises(ValueError, match="rebalance strength"):
        ab_weights(pairs, strength)


def test_ab_weights_strength_one_is_uniform(pairs):
    np.testing.assert_allclose(ab_weights(pairs, 1.0), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_train_with_rebalance_runs(data, tmp_path):
    out = tmp_path / "rebalanced"
    run_training(tiny_config(data, out, epochs=1, steps_per_epoch=1, rebalance=0.5,
                             learning_rate=1e-3))
    _, rows = read_log(out)
    assert len(rows) == 1 and math.isfinite(float(rows[0]["loss"]))
    assert json.loads((out / "train.json").read_text())["config"]["rebalance"] == 0.5


# --- the train / validation split --------------------------------------------------------

def touch_images(folder, names):
    """split_paths only lists files; empty files with image names are enough."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()
    return [folder / name for name in names]


@pytest.mark.parametrize("fraction, n_val", [("0.1", 1), ("0.3", 3), ("0.5", 5), ("0.01", 1)])
def test_split_by_fraction(tmp_path, fraction, n_val):
    everything = touch_images(tmp_path, [f"img{i:02d}.png" for i in range(10)])
    train_paths, val_paths = split_paths(tmp_path, fraction, seed=0)
    assert len(val_paths) == n_val and len(train_paths) == 10 - n_val
    assert not set(train_paths) & set(val_paths)
    assert sorted(train_paths + val_paths) == everything
    assert train_paths == sorted(train_paths) and val_paths == sorted(val_paths)
    assert split_paths(tmp_path, fraction, seed=0) == (train_paths, val_paths)


def test_split_by_fraction_depends_on_seed(tmp_path):
    touch_images(tmp_path, [f"img{i:02d}.png" for i in range(20)])
    vals = {tuple(split_paths(tmp_path, "0.25", seed=s)[1]) for s in range(5)}
    assert len(vals) > 1


@pytest.mark.parametrize("val_name", ["val", "holdout"])
def test_split_by_subfolder(tmp_path, val_name):
    train_files = touch_images(tmp_path / "train", ["a.png", "b.jpg"])
    loose = touch_images(tmp_path, ["c.tif"])
    val_files = touch_images(tmp_path / val_name, ["x.png", "y.jpeg"])
    train_paths, val_paths = split_paths(tmp_path, val_name, seed=0)
    assert val_paths == val_files
    assert sorted(train_paths) == sorted(train_files + loose)


@pytest.mark.parametrize("layout, val_split, message", [
    ({}, "val", "no images found"),
    ({"notes.txt": ""}, "val", "no images found"),
    ({"a.png": ""}, "val", "no 'val' subfolder and not a fraction"),
    ({"val/a.png": ""}, "val", "need both training and validation"),
    ({"a.png": "", "b.png": ""}, "1.0", "need both training and validation"),
])
def test_split_rejects_unusable_folders(tmp_path, layout, val_split, message):
    for rel in layout:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    with pytest.raises(DataError, match=message):
        split_paths(tmp_path, val_split, seed=0)


def test_train_on_empty_folder_raises_data_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found"):
        train(tiny_config(tmp_path / "empty", tmp_path / "out"))


# --- `filmcolor train` -------------------------------------------------------------------

@pytest.fixture
def restore_filmcolor_logger():
    """main() installs a handler and -q sets the level; undo both for later tests."""
    logger = logging.getLogger("filmcolor")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    yield
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]
    logger.propagate = saved[2]


def cli_args(data, out, crop="32", recipe="unet"):
    return ["train", "--data", str(data), "--out", str(out), "--recipe", recipe,
            "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--crop", crop,
            "--render-size", "64", "-q"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe, arch, params", [("unet", "filmcolor_unet", None),
                                                  ("paper", "revathi2023", 31_618),
                                                  ("paper-recipe", "revathi2023", 31_618)])
def test_cli_train_exits_0_and_writes_run(data, tmp_path, restore_filmcolor_logger, recipe,
                                          arch, params):
    out = tmp_path / "cli-run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(cli_args(data, out, recipe=recipe)) == EXIT_OK == 0
    _, rows = read_log(out)
    assert len(rows) == 1
    model = load_model(out / "best.keras")  # the inference model: code out, any backend
    assert model.name == arch and model.output_shape[-1] == 2
    assert params is None or model.count_params() == params
    info = json.loads((out / "train.json").read_text())
    assert info["config"]["model"] == recipe.split("-")[0]
    assert info["config"]["augment"] is (recipe != "paper-recipe")
    assert info["config"]["l2"] == {"unet": 0.0, "paper": 1e-6, "paper-recipe": 0.01}[recipe]


@pytest.mark.parametrize("recipe, step", [("unet", 16), ("paper-recipe", 8),
                                          ("lite0-unet", 32)])
def test_cli_train_crop_not_a_multiple_of_the_stride_exits_2(data, tmp_path, capsys,
                                                             restore_filmcolor_logger,
                                                             recipe, step):
    out = tmp_path / "cli-bad"
    assert main(cli_args(data, out, crop="36", recipe=recipe)) == EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert "--crop" in err and f"36 is not a multiple of {step}" in err
    assert not out.exists()  # rejected before any work


def test_train_help_states_each_recipes_defaults_from_the_recipes():
    """The help's defaults are read from RECIPES: a recipe added there shows up in them."""
    from click.testing import CliRunner

    from filmcolor.cli import cli
    from filmcolor.models import crop_multiple
    from filmcolor.recipes import default_help

    text = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    for name, recipe in RECIPES.items():
        assert name in text
        cfg = recipe_config(name, data="", out="")
        assert cfg.crop % crop_multiple(cfg.model) == 0, name
        assert f"{cfg.epochs} (" in text
    assert default_help("epochs", ["paper"]) == "[default: 30]"
    assert default_help("epochs", ["unet", "paper"]) == "[default: 90 (unet), 30 (paper)]"
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        crop_multiple("vgg")


# --- the default recipe's parts ------------------------------------------------------------

def test_test_subfolder_is_never_trained_or_validated_on(tmp_path):
    touch_images(tmp_path / "train", ["a.png", "b.png"])
    touch_images(tmp_path / "val", ["v.png"])
    touch_images(tmp_path / "test", ["t.png"])
    train_paths, val_paths = split_paths(tmp_path, "val", seed=0)
    assert not [p for p in train_paths + val_paths if "test" in p.parts]
    train_paths, val_paths = split_paths(tmp_path, "0.5", seed=0)
    assert not [p for p in train_paths + val_paths if "test" in p.parts]


def test_too_few_colour_photos_says_how_many(tmp_path):
    write_gradients(tmp_path / "train", 2, seed=1)
    gray = tmp_path / "train" / "gray.png"
    cv2.imwrite(str(gray), np.full((40, 60), 128, np.uint8))
    write_gradients(tmp_path / "val", 1, seed=2)
    with pytest.raises(DataError, match=r"found 2 usable colour training images of 3; "
                                        r"need at least 4"):
        train(tiny_config(tmp_path, tmp_path / "out"))


def test_ab_bins_index_their_own_centres(pairs):
    from filmcolor.train import ABBins

    bins = ABBins(pairs)
    centres = bins.centres_code
    assert len(centres) == len(bins.kept) >= 2
    assert bins.prior.shape == (len(centres),) and bins.prior.min() > 0
    assert bins.prior.sum() == pytest.approx(1.0)
    idx = bins.index(centres[:, None, :])  # each centre, as a 1-pixel-wide image
    np.testing.assert_array_equal(idx[:, 0], np.arange(len(centres)))
    # a colour no training image has goes to a kept neighbour, never out of range
    far = np.full((1, 1, 2), 0.02, np.float32)
    assert 0 <= bins.index(far)[0, 0] < len(centres)


def test_film_augmentation_changes_only_the_input(data, tmp_path):
    """Augmented crops differ from clean ones in L, never in the target."""
    from filmcolor.train import CropDataset

    ps = load_pairs(sorted((data / "train").glob("*.png")), 64)
    clean = CropDataset(ps, 4, 32, 1, 0, augment=False)[0]
    dirty = CropDataset(ps, 4, 32, 1, 0, augment=True)[0]
    np.testing.assert_array_equal(clean[1], dirty[1])
    assert np.abs(clean[0] - dirty[0]).mean() > 0.005
    assert 0.0 <= dirty[0].min() and dirty[0].max() <= 1.0


@pytest.mark.slow
# each loss the U-Net takes (mse: the paper recipes' CLI runs), rebalanced where that
# changes the graph (sample weights for regression, the prior for classification)
@pytest.mark.parametrize("loss, rebalance", [("classify", 0.5), ("ab-distance", 0.5),
                                             ("log-mse", 0.0)])
def test_unet_recipes_train_and_save_a_code_out_model(data, tmp_path, loss, rebalance):
    from filmcolor.train import recipe_config

    out = tmp_path / "u"
    cfg = recipe_config("unet", data=str(data), out=str(out), loss=loss, rebalance=rebalance,
                        epochs=1, steps_per_epoch=1, batch_size=2, crop=32, load_size=64,
                        render_size=64, verbose=0)
    run_training(cfg)
    m = load_model(out / "best.keras")
    y = np.asarray(m.predict_on_batch(np.full((1, 32, 48, 1), 0.5, np.float32)))
    assert y.shape == (1, 32, 48, 2) and 0 < y.min() and y.max() < 1
    _, rows = read_log(out)
    assert math.isfinite(float(rows[0]["val_loss"]))


def test_metric_losses_are_the_metrics_measures():
    """ab-distance is the mean Euclidean code distance; log-mse the mean of per-crop log MSE
    (so one nearly right crop outweighs a wrong one, as in mean PSNR)."""
    from filmcolor.losses import LOG_MSE_FLOOR, ab_distance, log_mse

    rng = np.random.default_rng(0)
    t, p = (rng.random((3, 4, 5, 2)).astype(np.float32) for _ in range(2))
    p[0] = t[0] + 0.001  # crop 0 nearly right
    d = np.asarray(ab_distance(t, p))
    np.testing.assert_allclose(d, np.sqrt(((t - p) ** 2).sum(-1)), rtol=1e-4, atol=1e-4)
    per_crop = np.asarray(log_mse(t, p))
    want = np.log(((t - p) ** 2).mean(axis=(1, 2, 3)) + LOG_MSE_FLOOR)
    np.testing.assert_allclose(per_crop, want, rtol=1e-5)
    assert per_crop[0] < per_crop[1] - 3


def test_log_mse_takes_no_rebalance(data, tmp_path):
    from filmcolor.train import recipe_config

    cfg = recipe_config("unet", data=str(data), out=str(tmp_path / "u"), loss="log-mse",
                        rebalance=0.5, epochs=1, steps_per_epoch=1, batch_size=2, crop=32,
                        load_size=64, render_size=64, verbose=0)
    with pytest.raises(ValueError, match="rebalance"):
        run_training(cfg)


def _shipped_run(name):
    run = Path(__file__).resolve().parent.parent / "weights" / "training" / name
    return json.loads((run / "train.json").read_text())["config"]


# options added for the encoder models, at values that leave the other recipes as they were
ENCODER_OPTIONS = {"pretrained": "imagenet", "frozen_epochs": 0, "fine_tune_from": 0,
                   "encoder_rate": 0.1, "init": "", "hints": False}  # and the hint model's


def test_train_without_recipe_flags_is_the_shipped_unets_recipe():
    """`filmcolor train` with no recipe flags trains what made weights/unet.keras: its
    committed train.json holds the same config, but for the folders and verbosity."""
    from dataclasses import asdict

    from filmcolor.train import recipe_config

    shipped = _shipped_run("unet-ab-distance-90")
    ours = asdict(recipe_config("unet", data=shipped["data"], out=shipped["out"],
                                verbose=shipped["verbose"]))
    # options added after that run, at the value that leaves its recipe as it was (the
    # studio share acts only with cut-outs)
    added_since = {"ema": 0.0, "cutouts": "", "paste": 0.0, "studio": 0.25, **ENCODER_OPTIONS}
    assert {k: v for k, v in ours.items() if k not in shipped} == added_since
    assert {k: v for k, v in ours.items() if k in shipped} == shipped


def test_the_hint_models_two_runs_are_its_recipe_and_the_documented_overrides():
    """weights/unet-hints.keras: `--recipe unet-hints` (before the spread's gate existed),
    then `--init` that run, 15 epochs at lr 5e-4 and load size 256 (weights/README.md)."""
    from dataclasses import asdict

    from filmcolor.train import recipe_config

    for stage, overrides in (("stage1", {}),
                             ("stage2", dict(init="runs/unet-hints/best.keras", epochs=15,
                                             learning_rate=5e-4, load_size=256))):
        shipped = _shipped_run(f"unet-hints/{stage}")
        ours = asdict(recipe_config("unet-hints", data=shipped["data"], out=shipped["out"],
                                    verbose=shipped["verbose"], **overrides))
        assert ours == shipped, stage


def test_studio_recipe_is_what_trained_unet_studio():
    from dataclasses import asdict

    from filmcolor.train import recipe_config

    shipped = _shipped_run("unet-studio-90")
    ours = asdict(recipe_config("unet-studio", data=shipped["data"], out=shipped["out"],
                                verbose=shipped["verbose"]))
    # that run read the same 129 cut-outs from data/cutouts, before they moved to where
    # "auto" looks: DATA/cutouts (weights/cutouts-manifest.csv lists them)
    assert shipped.pop("cutouts") == "data/cutouts" and ours.pop("cutouts") == "auto"
    assert {k: v for k, v in ours.items() if k not in shipped} == ENCODER_OPTIONS
    assert {k: v for k, v in ours.items() if k in shipped} == shipped


def test_lite0_recipe_is_what_trained_lite0_unet():
    """Its committed train.json is phase 2's: the recipe, less the frozen epochs, started
    from phase 1's best file; phase 1's is the recipe frozen for those epochs."""
    from dataclasses import asdict, replace

    from filmcolor.train import recipe_config

    second = _shipped_run("lite0-unet")
    first = _shipped_run("lite0-unet/frozen")
    for run in (first, second):  # an option added since, at the value that changes nothing
        assert run.setdefault("hints", False) is False
    recipe = recipe_config("lite0-unet", data=second["data"], out=second["out"],
                           verbose=second["verbose"])
    assert asdict(replace(recipe, epochs=15, init=f"{recipe.out}/frozen/best.keras")) == second
    assert asdict(replace(recipe, out=f"{recipe.out}/frozen", epochs=20, fine_tune_from=0,
                          frozen_epochs=0)) == first


def test_cutouts_subfolder_is_found_and_never_read_as_photos(tmp_path, caplog):
    from filmcolor.train import CUTOUTS, cutouts_folder

    write_gradients(tmp_path / "d" / "train", 4, seed=1)
    write_gradients(tmp_path / "d" / "val", 2, seed=2)
    cfg = TrainConfig(data=str(tmp_path / "d"), out="", cutouts="auto")
    with caplog.at_level(logging.WARNING, logger="filmcolor"):
        assert cutouts_folder(cfg) is None
    assert "no cut-outs" in caplog.text and "make_cutouts.py" in caplog.text
    write_gradients(tmp_path / "d" / CUTOUTS, 3, seed=3)
    assert cutouts_folder(cfg) == tmp_path / "d" / CUTOUTS
    assert cutouts_folder(TrainConfig(data=str(tmp_path / "d"), out="")) is None
    train_paths, val_paths = split_paths(tmp_path / "d", "val", 0)
    assert len(train_paths) == 4 and len(val_paths) == 2
    train_paths, val_paths = split_paths(tmp_path / "d", "0.5", 0)
    assert len(train_paths) + len(val_paths) == 6


@pytest.mark.parametrize("path", shipped_model_files(), ids=lambda p: p.name)
def test_shipped_files_hold_no_optimizer_state(path):
    """The model card's promise: weights only, no Adam moments (3x the size)."""
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as z, \
            h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h:
        assert "optimizer" not in h or not len(h["optimizer"].get("vars", {}))


def test_run_files_hold_no_optimizer_state(run):
    """best.keras and last.keras are inference files; backup/ alone keeps Adam's state."""
    import zipfile

    import h5py

    out, _, _ = run
    for name in ("best.keras", "last.keras"):
        with zipfile.ZipFile(out / name) as z, \
                h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h:
            assert "optimizer" not in h or not len(h["optimizer"].get("vars", {})), name


def test_scale_jitter_never_reaches_past_the_picture(monkeypatch):
    """A wide picture (the short side below the largest region asked for) is cropped
    inside itself, never padded with a mirrored border."""
    from filmcolor import train as T

    def no_pad(*a, **k):
        raise AssertionError("a crop padded a picture larger than the crop")

    x = np.random.default_rng(0).random((216, 384, 1)).astype(np.float32)
    y = np.random.default_rng(1).random((216, 384, 2)).astype(np.float32)
    monkeypatch.setattr(T.np, "pad", no_pad)
    for seed in range(200):
        cx, cy = T._crop(x, y, 128, np.random.default_rng(seed), scale_min=1 / 3)
        assert cx.shape == (128, 128, 1) and cy.shape == (128, 128, 2)
    small = np.zeros((100, 100, 1), np.float32)  # smaller than the crop: padded, as before
    monkeypatch.undo()
    assert T._crop(small, np.zeros((100, 100, 2), np.float32), 128,
                   np.random.default_rng(0), scale_min=0.5)[0].shape == (128, 128, 1)


def test_ema_checkpoints_hold_the_moving_average(data, tmp_path):
    """With --ema the saved files hold the averaged weights. Keras starts the average at
    the weights after the first step; at a momentum this close to 1 it stays there, so
    four steps with --ema save what one step without it saves, though the large rate
    moves the raw weights far in the other three."""
    def trained(name, **kw):
        run_training(tiny_config(data, tmp_path / name, **kw))
        return [w.numpy() for w in load_model(tmp_path / name / "last.keras").trainable_weights]

    averaged = trained("ema", ema=0.999999)
    one_step = trained("one", epochs=1, steps_per_epoch=1)
    four_steps = trained("four")
    gap = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    assert gap(averaged, one_step) < 1e-4
    assert gap(four_steps, one_step) > 1e-2


def test_ema_outside_its_range_is_refused(data, tmp_path):
    with pytest.raises(ValueError, match="ema"):
        train(tiny_config(data, tmp_path / "run", ema=1.0))


# --- copy-paste augmentation (--cutouts) ---------------------------------------------------

def write_cutout(path, bgr, alpha):
    assert cv2.imwrite(str(path), np.dstack([bgr, alpha]).astype(np.uint8))


def test_paste_blends_luma_and_ab_by_alpha():
    """Where the cut-out is opaque the crop becomes the cut-out (input and target alike),
    where it is transparent the crop is untouched, and a half-transparent edge is the mean."""
    from filmcolor.train import _paste

    x = np.full((64, 64, 1), 0.2, np.float32)
    y = np.full((64, 64, 2), 0.5, np.float32)
    cx = np.full((32, 32, 1), 0.9, np.float32)
    cy = np.full((32, 32, 2), 0.8, np.float32)
    ca = np.zeros((32, 32, 1), np.float32)
    ca[8:24, 8:24] = 1.0
    ca[8:24, 4:8] = 0.5
    px, py = _paste(x, y, (cx, cy, ca), np.random.default_rng(3), min_frac=0.5, max_frac=0.5)
    assert px.shape == x.shape and py.shape == y.shape
    np.testing.assert_array_equal(x, np.float32(0.2))  # the crop given is not modified
    opaque = np.isclose(px[..., 0], 0.9)
    assert opaque.sum() == 16 * 16  # half of 64 is the cut-out's own size: no resize
    np.testing.assert_allclose(py[opaque], 0.8)
    untouched = np.isclose(px[..., 0], 0.2)
    np.testing.assert_allclose(py[untouched], 0.5)
    half = np.isclose(px[..., 0], 0.55)
    assert half.sum() == 16 * 4
    np.testing.assert_allclose(py[half], 0.65, atol=1e-6)
    assert (opaque | untouched | half).all()


def test_cutouts_leave_the_crops_as_they_were(data, tmp_path):
    """The cut-outs are drawn after the crops: a crop that gets none is the crop a run
    without cut-outs has; one that gets one differs in input and target."""
    from filmcolor.train import CropDataset, load_cutouts

    folder = tmp_path / "cut"
    folder.mkdir()
    rng = np.random.default_rng(0)
    alpha = np.zeros((40, 40), np.uint8)
    cv2.circle(alpha, (20, 20), 15, 255, -1)
    write_cutout(folder / "a.png", rng.integers(0, 256, (40, 40, 3)), alpha)
    cuts = load_cutouts(folder, 64)
    assert len(cuts) == 1 and cuts[0][2].shape == (40, 40, 1)
    ps = load_pairs(sorted((data / "train").glob("*.png")), 64)
    plain = CropDataset(ps, 4, 32, 1, 0)[0]
    none = CropDataset(ps, 4, 32, 1, 0, cutouts=cuts, paste=0.0)[0]
    every = CropDataset(ps, 4, 32, 1, 0, cutouts=cuts, paste=1.0)[0]
    for a, b in zip(plain, none, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(plain, every, strict=True):
        assert not np.array_equal(a, b)


def test_studio_backdrops_are_near_neutral_and_hold_the_cutout(data, tmp_path):
    """--studio replaces a crop by a cut-out on a gray backdrop whose target is one faint
    tint (|a|, |b| <= 3): the pasted object keeps its true colour."""
    from filmcolor import color
    from filmcolor.train import CropDataset, _backdrop

    for seed in range(20):
        x, y = _backdrop(32, np.random.default_rng(seed))
        ab = color.decode_ab(y)
        assert x.shape == (32, 32, 1) and 0 <= x.min() and x.max() <= 1
        assert np.abs(ab).max() <= 3.0 + 1e-4 and np.ptp(ab.reshape(-1, 2), axis=0).max() < 1e-4
    ps = load_pairs(sorted((data / "train").glob("*.png")), 64)
    green = np.zeros((64, 64, 3), np.uint8)
    green[...] = (40, 200, 40)  # BGR
    cuts = [(*load_pairs_from(green), np.ones((64, 64, 1), np.float32))]
    x, y = CropDataset(ps, 4, 32, 1, 0, cutouts=cuts, paste=0.0, studio=1.0)[0]
    ab = color.decode_ab(y)
    assert (np.hypot(ab[..., 0], ab[..., 1]) > 30).mean(axis=(1, 2)).min() > 0.1  # the object
    assert (np.hypot(ab[..., 0], ab[..., 1]) < 3.5).mean(axis=(1, 2)).min() > 0.1  # backdrop


def load_pairs_from(bgr):
    from filmcolor import color

    return color.training_pair(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255)


def test_cutouts_without_alpha_are_refused(tmp_path):
    from filmcolor.train import load_cutouts

    (tmp_path / "cut").mkdir()
    with pytest.raises(DataError, match="no cut-outs"):
        load_cutouts(tmp_path / "cut", 64)
    assert cv2.imwrite(str(tmp_path / "cut" / "rgb.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"rgb\.png: not an RGBA PNG"):
        load_cutouts(tmp_path / "cut", 64)


@pytest.mark.slow
def test_cli_train_with_cutouts(data, tmp_path, restore_filmcolor_logger):
    folder = tmp_path / "cut"
    folder.mkdir()
    alpha = np.zeros((48, 48), np.uint8)
    alpha[8:40, 8:40] = 255
    write_cutout(folder / "a.png", np.random.default_rng(1).integers(0, 256, (48, 48, 3)),
                 alpha)
    out = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(cli_args(data, out) + ["--cutouts", str(folder), "--paste", "1"])
    assert code == EXIT_OK
    cfg = json.loads((out / "train.json").read_text())["config"]
    assert cfg["cutouts"] == str(folder) and cfg["paste"] == 1.0
