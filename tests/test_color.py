"""color.py: Lab conversions, the model's value scaling, and luma-preserving composition."""

import numpy as np
import pytest

from filmcolor import color

ONE_8BIT_LEVEL = 1.0 / 255.0


def _rgb(seed, shape=(24, 32)):
    return np.random.default_rng(seed).random((*shape, 3), dtype=np.float32)


def _gray(seed, shape=(24, 32)):
    g = np.random.default_rng(seed).random(shape, dtype=np.float32)
    g[0, 0], g[0, 1] = 0.0, 1.0  # the extremes, where compose has no room at all
    return g


# --- rgb <-> lab -------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rgb_lab_round_trip_within_one_8bit_level(seed):
    rgb = _rgb(seed)
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    assert back.dtype == np.float32 and back.shape == rgb.shape
    # OpenCV's float Lab path uses tables (error ~2e-3); it must stay under one 8-bit level.
    assert np.abs(back - rgb).max() < ONE_8BIT_LEVEL


@pytest.mark.parametrize("rgb, lab", [
    # CIE L*a*b* (D65) of the sRGB primaries, from the sRGB and CIE 1976 formulas.
    ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
    ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
    ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
    ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
])
def test_rgb_to_lab_known_values(rgb, lab):
    got = color.rgb_to_lab(np.array([[rgb]], np.float32))[0, 0]
    np.testing.assert_allclose(got, lab, atol=0.1)


def test_lab_to_rgb_clips_out_of_gamut_to_unit_range():
    lab = np.array([[[50.0, 127.0, -128.0], [90.0, -128.0, 127.0]]], np.float32)
    rgb = color.lab_to_rgb(lab)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    # and it really was out of gamut: some channel sits on the clip boundary
    assert np.isin(rgb, [0.0, 1.0]).any()


# --- model scaling ----------------------------------------------------------------------

@pytest.mark.parametrize("ab, code", [(-128.0, 0.0), (127.0, 1.0), (0.0, 128.0 / 255.0)])
def test_encode_ab_known_values(ab, code):
    assert color.encode_ab(np.float32(ab)) == pytest.approx(code, abs=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_decode_ab_inverts_encode_ab(seed):
    ab = np.random.default_rng(seed).uniform(-128, 127, (16, 16, 2)).astype(np.float32)
    code = color.encode_ab(ab)
    assert code.dtype == np.float32
    assert code.min() >= 0.0 and code.max() <= 1.0
    np.testing.assert_allclose(color.decode_ab(code), ab, atol=1e-4)


def test_encode_ab_inverts_decode_ab():
    y = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    np.testing.assert_allclose(color.encode_ab(color.decode_ab(y)), y, atol=1e-6)


@pytest.mark.parametrize("shape", [(24, 32), (7, 5)])
def test_model_input_is_in_unit_range(shape):
    x = color.model_input(_gray(3, shape))
    assert x.shape == (*shape, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_model_input_maps_black_to_0_and_white_to_1():
    x = color.model_input(np.array([[0.0, 1.0]], np.float32))
    np.testing.assert_allclose(x.ravel(), [0.0, 1.0], atol=1e-6)


def test_model_input_is_monotonic_in_luma():
    x = color.model_input(np.linspace(0, 1, 256, dtype=np.float32)[None, :])[0, :, 0]
    assert np.all(np.diff(x) > 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_training_pair_input_is_model_input_of_luma(seed):
    rgb = _rgb(seed)
    x, y = color.training_pair(rgb)
    np.testing.assert_array_equal(x, color.model_input(color.luma(rgb)))
    assert y.shape == (*rgb.shape[:2], 2) and y.dtype == np.float32
    np.testing.assert_allclose(y, color.encode_ab(color.rgb_to_lab(rgb)[..., 1:]), atol=1e-7)
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_luma_is_rec601():
    rgb = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]], np.float32)
    np.testing.assert_allclose(color.luma(rgb)[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)


# --- chroma offsets and compose ---------------------------------------------------------

def _saturated_ab(seed, shape):
    """The most saturated ab codes the network can emit (+-128/127): far outside sRGB."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random((*shape, 2)) < 0.5, -128.0, 127.0).astype(np.float32)


@pytest.mark.parametrize("ab_kind", ["random", "saturated"])
def test_chroma_offsets_have_zero_luma(ab_kind):
    gray = _gray(4, (12, 16))
    if ab_kind == "saturated":
        ab = _saturated_ab(5, (12, 16))
    else:
        ab = np.random.default_rng(5).uniform(-128, 127, (12, 16, 2)).astype(np.float32)
    off = color.chroma_offsets(gray, ab)
    assert off.shape == (12, 16, 3)
    assert np.abs(off).max() > 0.1  # they do carry colour
    np.testing.assert_allclose(color.luma(off), 0.0, atol=1e-5)


def test_chroma_offsets_of_neutral_ab_are_zero():
    gray = _gray(6, (12, 16))
    off = color.chroma_offsets(gray, np.zeros((12, 16, 2), np.float32))
    np.testing.assert_allclose(off, 0.0, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("small_shape", [(12, 16), (24, 32)])  # upsampled, and same size
def test_compose_keeps_luma_for_saturated_chroma(seed, small_shape):
    gray = _gray(seed, (24, 32))
    small = color.resize_long_side(gray, max(small_shape))
    off = color.chroma_offsets(small, _saturated_ab(seed + 10, small.shape))
    # precondition: added unscaled, these offsets leave [0, 1], so the gamut branch runs
    full = off if off.shape[:2] == gray.shape else color.resize_long_side(off, 32)
    unscaled = gray[..., None] + full
    assert unscaled.min() < -0.05 or unscaled.max() > 1.05

    out = color.compose(gray, off)
    assert out.shape == (24, 32, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(color.luma(out), gray, atol=1e-5)
    assert (out.max(axis=-1) - out.min(axis=-1)).max() > 0.1  # colour left, not just gray


def test_compose_leaves_in_gamut_chroma_unscaled():
    gray = np.full((8, 8), 0.5, np.float32)
    v = np.array([0.6, 0.45, 0.5], np.float32)
    d = np.broadcast_to(v - color.luma(v), (8, 8, 3)).astype(np.float32)
    out = color.compose(gray, d)
    np.testing.assert_allclose(out, 0.5 + d, atol=1e-6)


def test_compose_output_is_gray_at_black_and_white():
    gray = np.array([[0.0, 1.0]], np.float32)
    d = np.array([[[0.3, -0.2, 0.1], [0.3, -0.2, 0.1]]], np.float32)
    d -= color.luma(d)[..., None]
    out = color.compose(gray, d)
    np.testing.assert_allclose(out[0, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 1], 1.0, atol=1e-6)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 65535)])
def test_to_float_from_float_round_trip(dtype, top):
    ints = np.array([0, 1, top // 2, top - 1, top], dtype=dtype)
    np.testing.assert_array_equal(color.from_float(color.to_float(ints), dtype), ints)


@pytest.mark.parametrize("shape, size, expected", [
    ((40, 60), 64, (43, 64)),
    ((60, 40), 30, (30, 20)),
    ((64, 64), 64, (64, 64)),
])
def test_resize_long_side(shape, size, expected):
    assert color.resize_long_side(np.zeros(shape, np.float32), size).shape == expected
