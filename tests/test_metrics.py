"""evaluation/metrics.py against values worked out by hand."""

import math

import numpy as np
import pytest

from filmcolor.evaluation import metrics


def _image(seed, shape=(16, 16)):
    """RGB in [0.2, 0.8], so a +-0.1 offset stays inside [0, 1]."""
    return np.random.default_rng(seed).uniform(0.2, 0.8, (*shape, 3)).astype(np.float32)


def _solid(rgb, shape=(8, 8)):
    return np.broadcast_to(np.array(rgb, np.float32), (*shape, 3)).copy()


# --- AUC of the ab error CDF (Zhang et al. 2016) ----------------------------------------

def _ab_with_error(err_ab, shape=(8, 8)):
    # whole numbers, so truth + error is exact in float32 and |error| is exactly 50 or 200
    truth = np.random.default_rng(0).integers(-60, 60, (*shape, 2)).astype(np.float32)
    return truth + np.array(err_ab, np.float32), truth


@pytest.mark.parametrize("err_ab, expected", [
    ((0.0, 0.0), 1.0),  # identical: the CDF is 1 at every threshold 0..150
    # |(30, 40)| = 50: CDF 0 below 50 and 1 from 50 on. The trapezoid over integer
    # thresholds gives 0.5 for [49, 50] plus 100 for [50, 150]: 100.5 / 150 (2/3 if continuous)
    ((30.0, 40.0), 100.5 / 150.0),
    ((120.0, 160.0), 0.0),  # |error| = 200 > 150: never within any threshold
])
def test_auc_ab_constant_error(err_ab, expected):
    pred, truth = _ab_with_error(err_ab)
    assert metrics.auc_ab(pred, truth) == pytest.approx(expected, abs=1e-9)


def test_auc_ab_constant_error_50_is_about_two_thirds():
    pred, truth = _ab_with_error((30.0, 40.0))
    assert metrics.auc_ab(pred, truth) == pytest.approx(2 / 3, abs=0.005)


def test_auc_ab_half_right_half_far_is_one_half():
    pred, truth = _ab_with_error((0.0, 0.0), shape=(4, 4))
    pred[:2] += 200.0  # half the pixels beyond the last threshold
    assert metrics.auc_ab(pred, truth) == pytest.approx(0.5, abs=1e-9)


# --- colourfulness (Hasler & Suesstrunk 2003) ------------------------------------------

@pytest.mark.parametrize("level", [0.0, 0.3, 1.0])
def test_colorfulness_of_gray_is_zero(level):
    assert metrics.colorfulness(_solid((level, level, level))) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_half_red_half_green():
    # red: rg = 255, yb = 127.5; green: rg = -255, yb = 127.5.
    # std(rg) = 255, std(yb) = 0, mean(rg) = 0, mean(yb) = 127.5
    # M = hypot(255, 0) + 0.3 * hypot(0, 127.5) = 255 + 38.25
    img = _solid((1.0, 0.0, 0.0))
    img[:, 4:] = (0.0, 1.0, 0.0)
    assert metrics.colorfulness(img) == pytest.approx(293.25, abs=1e-6)


def test_colorfulness_solid_red():
    # rg = 255 and yb = 127.5 everywhere: no spread, M = 0.3 * hypot(255, 127.5)
    expected = 0.3 * math.sqrt(255.0 ** 2 + 127.5 ** 2)
    assert metrics.colorfulness(_solid((1.0, 0.0, 0.0))) == pytest.approx(expected, abs=1e-6)


# --- PSNR / SSIM on RGB ------------------------------------------------------------------

def test_psnr_rgb_identical_is_infinite():
    img = _image(0)
    with np.errstate(divide="ignore"):
        assert metrics.psnr_rgb(img, img.copy()) == math.inf


def test_ssim_rgb_identical_is_one():
    img = _image(0)
    assert metrics.ssim_rgb(img, img.copy()) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("offset, expected_db", [
    (0.1, 20.0),  # MSE 0.01 -> 10 log10(1 / 0.01)
    (-0.1, 20.0),
    (0.01, 40.0),  # MSE 1e-4
])
def test_psnr_rgb_constant_offset(offset, expected_db):
    truth = _image(1)
    pred = (truth + np.float32(offset)).astype(np.float32)
    assert metrics.psnr_rgb(pred, truth) == pytest.approx(expected_db, abs=1e-3)


def test_ssim_rgb_drops_for_noise():
    truth = _image(2, (32, 32))
    noisy = np.clip(truth + np.random.default_rng(3).normal(0, 0.2, truth.shape), 0, 1)
    assert metrics.ssim_rgb(noisy.astype(np.float32), truth) < 0.9


# --- the paper's metrics ------------------------------------------------------------------

@pytest.mark.parametrize("pred, true, expected", [
    # argmax agrees in rows 0, 2, 3 (row 2 barely: 0.6 > 0.4 and 0.51 > 0.49)
    ([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]],
     [[0.7, 0.3], [0.9, 0.1], [0.51, 0.49], [0.1, 0.9]], 0.75),
    # only the ordering of a and b counts, not how close the colour is
    ([[0.51, 0.49]], [[1.0, 0.0]], 1.0),
    ([[0.49, 0.51]], [[0.5, 0.5]], 0.0),  # a tie picks channel 0, as np.argmax does
    ([[0.1, 0.9], [0.9, 0.1]], [[0.9, 0.1], [0.1, 0.9]], 0.0),
])
def test_paper_accuracy_hand_cases(pred, true, expected):
    assert metrics.paper_accuracy(np.array(pred), np.array(true)) == pytest.approx(expected)


def test_paper_accuracy_matches_keras_categorical_accuracy():
    """The docstring's claim: this is what Keras' "accuracy" logged during training."""
    from filmcolor.models import import_keras

    keras = import_keras()
    rng = np.random.default_rng(4)
    pred = rng.random((2, 8, 8, 2)).astype(np.float32)
    true = rng.random((2, 8, 8, 2)).astype(np.float32)
    m = keras.metrics.CategoricalAccuracy()
    m.update_state(true, pred)
    assert metrics.paper_accuracy(pred, true) == pytest.approx(float(m.result()), abs=1e-6)


@pytest.mark.parametrize("pred, true, expected", [
    (np.zeros((4, 4, 2)), np.full((4, 4, 2), 0.5), 0.25),
    (np.array([0.0, 1.0]), np.array([1.0, 1.0]), 0.5),
    (np.array([0.2, 0.4, 0.6]), np.array([0.2, 0.4, 0.6]), 0.0),
    (np.array([0.1, 0.2]), np.array([0.4, 0.6]), (0.09 + 0.16) / 2),
])
def test_paper_mse(pred, true, expected):
    assert metrics.paper_mse(pred, true) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("mse, expected_db", [
    (1.0, 20 * math.log10(255)),  # 48.13 dB: the 8-bit peak over a 0..1-scale error
    (0.01, 20 * math.log10(255) + 20),
    (0.0, 20 * math.log10(255) + 120),  # clamped at 1e-12, not infinite
])
def test_paper_psnr(mse, expected_db):
    assert metrics.paper_psnr(mse) == pytest.approx(expected_db, abs=1e-6)


def test_ab_spread_is_zero_for_a_constant_tint_and_grows_with_variation():
    from filmcolor.evaluation.metrics import ab_spread

    tint = np.broadcast_to(np.array([12.0, -30.0], np.float32), (8, 8, 2))
    assert ab_spread(tint) == pytest.approx(0.0, abs=1e-9)
    halves = np.zeros((8, 8, 2), np.float32)
    halves[:4, :, 0] = 20.0  # a: std 10; b: std 0 -> sqrt((100 + 0) / 2)
    assert ab_spread(halves) == pytest.approx(np.sqrt(50.0))
