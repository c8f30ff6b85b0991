"""temporal.ChromaSmoother and metrics.warping_error on small synthetic clips.

Clips are crops of a smooth random texture (luma in [0.1, 0.9]); motion is a whole number
of pixels per frame, so the true flow is known. ab is "float32 h x w x 2", luma "float32
h x w in [0, 1]", as at the engine's boundary.
"""

import cv2
import numpy as np
import pytest

from filmcolor.evaluation import metrics
from filmcolor.temporal import ChromaSmoother, cut_score, is_cut

H, W = 72, 128


def _texture(seed, shape=(H + 16, W + 120), sigma=2.0):
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), sigma)
    return (0.1 + 0.8 * (t - t.min()) / (t.max() - t.min())).astype(np.float32)


def _crop(tex, dx, dy=8):
    return np.ascontiguousarray(tex[dy:dy + H, 8 + dx:8 + dx + W])


def _ab_from(field):
    """A colour pattern tied to a texture: a and b follow it, in ab units."""
    return np.dstack([120 * field - 60, 40 - 80 * field]).astype(np.float32)


def _run(smoother, lumas, abs_, items=None):
    items = list(range(len(lumas))) if items is None else items
    out = []
    for item, y, ab in zip(items, lumas, abs_):
        out += smoother.push(item, y, ab)
    out += smoother.flush()
    return out


# --- pass-through, order, count, latency, memory ------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_strength_zero_returns_the_input_ab_bit_for_bit(radius):
    tex = _texture(0)
    lumas = [_crop(tex, 2 * i) for i in range(6)]
    abs_ = [_ab_from(y) + np.float32(0.1 * i) for i, y in enumerate(lumas)]
    out = _run(ChromaSmoother(strength=0.0, radius=radius), lumas, abs_)
    assert [item for item, _ in out] == list(range(6))
    for (i, ab), ab_in in zip(out, abs_):
        assert ab.dtype == ab_in.dtype and ab.tobytes() == ab_in.tobytes(), i


@pytest.mark.parametrize("radius", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 2, 3, 11])
def test_every_item_comes_out_once_in_order_at_most_radius_late(radius, n):
    tex = _texture(1)
    smoother = ChromaSmoother(strength=0.5, radius=radius)
    seen = []
    for k in range(n):
        y = _crop(tex, k)
        seen += [item for item, _ in smoother.push(f"frame{k}", y, _ab_from(y))]
        # everything pushed at least `radius` pushes ago is out already
        assert seen == [f"frame{i}" for i in range(max(0, k - radius + 1))]
    seen += [item for item, _ in smoother.flush()]
    assert seen == [f"frame{i}" for i in range(n)]
    assert smoother.flush() == []  # nothing is returned twice


def test_smoother_is_reusable_after_flush():
    tex = _texture(2)
    lumas = [_crop(tex, i) for i in range(4)]
    abs_ = [_ab_from(y) for y in lumas]
    smoother = ChromaSmoother(strength=1.0, radius=2)
    first = _run(smoother, lumas, abs_)
    second = _run(smoother, lumas, abs_)
    assert [i for i, _ in second] == [0, 1, 2, 3]
    for (_, a), (_, b) in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_buffer_never_holds_more_than_the_window(radius):
    tex = _texture(3)
    lumas = [_crop(tex, i % 40) for i in range(30)]  # a jump back at frame 0 of each 40
    smoother = ChromaSmoother(strength=0.5, radius=radius)
    out = _run(smoother, lumas, [_ab_from(y) for y in lumas])
    assert len(out) == 30
    assert smoother.max_buffered == (2 * radius + 1 if radius else 1)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="strength"):
        ChromaSmoother(strength=1.5)
    with pytest.raises(ValueError, match="radius"):
        ChromaSmoother(radius=-1)
    y = _crop(_texture(4), 0)
    with pytest.raises(ValueError, match="does not match"):
        ChromaSmoother().push(0, y, np.zeros((H, W + 1, 2), np.float32))


# --- what the smoothing does ----------------------------------------------------------------


def _frame_to_frame_variance(abs_):
    return float(np.var(np.diff(np.stack(abs_), axis=0)))


def test_static_scene_ab_noise_is_reduced_strongly():
    tex = _texture(5)
    y = _crop(tex, 0)
    rng = np.random.default_rng(0)
    abs_ = [_ab_from(y) + rng.normal(0, 8, (H, W, 2)).astype(np.float32) for _ in range(12)]
    out = _run(ChromaSmoother(strength=1.0, radius=2), [y] * 12, abs_)
    before = _frame_to_frame_variance(abs_)
    after = _frame_to_frame_variance([ab for _, ab in out])
    assert after < 0.5 * before, (before, after)
    # and the colour itself is kept: the smoothed ab is nearer the noise-free pattern
    truth = _ab_from(y)
    assert np.mean(np.abs(out[6][1] - truth)) < 0.6 * np.mean(np.abs(abs_[6] - truth))


def test_moving_pattern_ab_stays_on_the_object():
    """A textured object pans 3 px per frame, its colours with it: warped averaging keeps
    ab aligned, where averaging the same frames without warping smears it."""
    tex, colours = _texture(6), _texture(7)
    rng = np.random.default_rng(1)
    n, radius = 9, 2
    lumas = [_crop(tex, 3 * i) for i in range(n)]
    truth = [_ab_from(_crop(colours, 3 * i)) for i in range(n)]
    noisy = [t + rng.normal(0, 4, t.shape).astype(np.float32) for t in truth]
    out = _run(ChromaSmoother(strength=1.0, radius=radius), lumas, noisy)
    inner = (slice(8, H - 8), slice(16, W - 16))  # away from pixels entering the frame
    for t in range(radius, n - radius):
        naive = np.mean(noisy[t - radius:t + radius + 1], axis=0)
        err_smoothed = np.mean(np.abs(out[t][1] - truth[t])[inner])
        err_naive = np.mean(np.abs(naive - truth[t])[inner])
        err_input = np.mean(np.abs(noisy[t] - truth[t])[inner])
        assert err_smoothed < 0.25 * err_naive, (t, err_smoothed, err_naive)
        assert err_smoothed < err_input, (t, err_smoothed, err_input)


def test_chained_flows_match_direct_flows_on_a_pan():
    """Flows chained over adjacent frames (the default) land where one flow per neighbour
    does: on a pan of 3 px per frame with noisy ab (sigma 4) both smooth as well (error
    against the true ab within 5 %), and the chained flow 2 frames out is the 6 px of the
    pan and of the direct flow within 0.3 px (measured 5.78 against 6.05), mid-frame."""
    tex, colours = _texture(6), _texture(7)
    rng = np.random.default_rng(1)
    n = 7
    lumas = [_crop(tex, 3 * i) for i in range(n)]
    truth = [_ab_from(_crop(colours, 3 * i)) for i in range(n)]
    noisy = [t + rng.normal(0, 4, t.shape).astype(np.float32) for t in truth]
    chained = ChromaSmoother(radius=2)
    direct = ChromaSmoother(radius=2, compose=False)
    inner = (slice(8, H - 8), slice(16, W - 16))
    pairs = zip(truth, _run(chained, lumas, noisy), _run(direct, lumas, noisy))
    for t, (_, a), (_, b) in pairs:
        err_chained = np.mean(np.abs(a - t)[inner])
        err_direct = np.mean(np.abs(b - t)[inner])
        assert err_chained < 1.05 * err_direct, (err_chained, err_direct)
    chained.push(0, lumas[0], noisy[0])
    chained.push(1, lumas[1], noisy[1])
    chained.push(2, lumas[2], noisy[2])
    chained_flow = np.median(chained._chained(0, 2)[inner], axis=(0, 1))
    buf = chained._buf
    direct_flow = np.median(chained._flow.calc(buf[0].luma8, buf[2].luma8, None)[inner],
                            axis=(0, 1))
    # the content moves 6 px left between frames 0 and 2
    assert np.allclose(chained_flow, (-6.0, 0.0), atol=0.3), chained_flow
    assert np.allclose(chained_flow, direct_flow, atol=0.3), (chained_flow, direct_flow)


# --- scene cuts -------------------------------------------------------------------------------


def _clip_with_cut(n=10, cut=5):
    """Frames 0..cut-1 show texture A, frames cut.. texture B, except that B's top quarter
    is A's (the same wall in both shots): the photometric check alone would let colour
    through there, only the cut detector stops it. A pans 1 px per frame, B does not."""
    a, b = _texture(8), _texture(9)
    lumas, abs_ = [], []
    for i in range(n):
        if i < cut:
            y = _crop(a, i)
            ab = np.full((H, W, 2), 40.0, np.float32)
        else:
            y = _crop(b, 0)
            y[:H // 4] = _crop(a, cut - 1)[:H // 4]
            ab = np.full((H, W, 2), -40.0, np.float32)
        lumas.append(y)
        abs_.append(ab)
    return lumas, abs_


def test_cut_detector_fires_once_at_the_cut():
    lumas, _ = _clip_with_cut()
    fired = [t for t in range(1, len(lumas)) if is_cut(lumas[t - 1], lumas[t])]
    assert fired == [5]
    scores = [cut_score(lumas[t - 1], lumas[t]) for t in range(1, len(lumas))]
    assert max(scores[:4] + scores[5:]) < 0.1
    assert scores[4] > 0.5


def test_cut_detector_on_flat_frames():
    black, gray = np.zeros((H, W), np.float32), np.full((H, W), 0.5, np.float32)
    assert not is_cut(black, black)
    assert is_cut(black, gray)  # fade-less cut from black: the MAD term
    assert not is_cut(gray, gray + 0.01)


@pytest.mark.parametrize("radius", [1, 2])
def test_no_colour_crosses_a_cut(radius):
    lumas, abs_ = _clip_with_cut()
    smoother = ChromaSmoother(strength=1.0, radius=radius)
    out = _run(smoother, lumas, abs_)
    assert [i for i, _ in out] == list(range(10))
    assert smoother.cuts == 1
    for i, ab in out:
        np.testing.assert_allclose(ab, 40.0 if i < 5 else -40.0, atol=1e-3, err_msg=str(i))


def test_without_cut_detection_colour_would_leak():
    """The clip above is a real test: with the detector off, colour crosses the cut."""
    lumas, abs_ = _clip_with_cut()
    out = _run(ChromaSmoother(strength=1.0, radius=2, cut_threshold=float("inf")),
               lumas, abs_)
    assert np.max(out[5][1][:H // 4]) > -30.0  # frame 5's shared strip got +40 from frame 4


# --- warping error (Lai et al. 2018) ----------------------------------------------------------


def _rgb_from(field):
    return np.dstack([field, 0.8 - 0.6 * field, 0.5 * field + 0.2]).astype(np.float32)


def test_warping_error_is_zero_for_a_static_output_on_a_static_source():
    y = _crop(_texture(10), 0)
    out = _rgb_from(_crop(_texture(11), 0))
    # Farneback on identical frames leaves sub-1/32-pixel flow noise; flicker of 0.05 is 7.5e-3
    assert metrics.warping_error([out] * 4, [y] * 4) < 1e-6


def _flicker(n, seed=0, amount=0.05):
    """Per-frame global colour offsets: the flicker of a per-frame colorizer."""
    return np.random.default_rng(seed).normal(0, amount, (n, 1, 1, 3)).astype(np.float32)


def test_warping_error_is_larger_for_flicker_than_for_the_same_output_smoothed():
    n = 8
    y = _crop(_texture(12), 0)
    base = _rgb_from(_crop(_texture(13), 0))
    flickering = [base + f for f in _flicker(n)]
    smoothed = [np.mean(flickering[max(0, t - 2):t + 3], axis=0) for t in range(n)]
    e_flicker = metrics.warping_error(flickering, [y] * n)
    e_smooth = metrics.warping_error(smoothed, [y] * n)
    assert e_flicker > 3 * e_smooth > 0


def test_warping_error_follows_global_motion():
    """An output that moves with its source scores as if both stood still."""
    n = 8
    tex, colours = _texture(14), _texture(15)
    flicker = _flicker(n, seed=1)
    static_src = [_crop(tex, 0)] * n
    moving_src = [_crop(tex, 2 * t) for t in range(n)]
    static = [_rgb_from(_crop(colours, 0)) + flicker[t] for t in range(n)]
    moving = [_rgb_from(_crop(colours, 2 * t)) + flicker[t] for t in range(n)]
    clean_moving = [_rgb_from(_crop(colours, 2 * t)) for t in range(n)]
    e_static = metrics.warping_error(static, static_src)
    e_moving = metrics.warping_error(moving, moving_src)
    assert e_moving == pytest.approx(e_static, rel=0.3)
    e_clean = metrics.warping_error(clean_moving, moving_src)
    assert e_clean < 0.1 * e_static
    # the flow comes from the source: the same output judged on a static source is way off
    assert metrics.warping_error(clean_moving, static_src) > 10 * e_clean


def test_occlusion_mask_is_the_forward_backward_check():
    shape = (16, 24, 2)
    right = np.zeros(shape, np.float32)
    right[..., 0] = 2.0
    occluded = metrics.occlusion_mask(right, -right)
    assert not occluded[:, :-2].any()  # consistent round trip, no motion boundary
    assert occluded[:, -2:].all()  # x + 2 leaves the frame
    assert metrics.occlusion_mask(right, right)[:, :-2].all()  # 4 px round-trip error
    edge = right.copy()
    edge[:, 12:, 0] = 0.0  # a motion boundary between columns 11 and 12
    mask = metrics.occlusion_mask(edge, -edge)
    assert mask[:, 11:13].all() and not mask[:, :9].any()


def test_warping_error_streaming_matches_the_function():
    n = 5
    src = [_crop(_texture(16), t) for t in range(n)]
    out = [_rgb_from(s) + f for s, f in zip(src, _flicker(n, seed=2))]
    we = metrics.WarpingError()
    assert we.push(src[0], out[0]) is None and np.isnan(we.value)
    for s, o in zip(src[1:], out[1:]):
        we.push(s, o)
    assert we.pairs == n - 1
    assert we.value == pytest.approx(metrics.warping_error(out, src), rel=1e-9)
    with pytest.raises(ValueError, match="do not match"):
        we.update(src[0], src[1], out[0][:-1], out[1][:-1])


@pytest.mark.parametrize("speed", [4, 8, 16])
def test_a_fast_pan_over_fine_detail_is_not_a_cut(speed):
    """A pan of `speed` px a frame at W = 128 moves the 32-px thumbnail by 1-4 px, which
    the plain thumbnail comparison scored as a cut from 4 px on (0.54 at 4, 0.98 at 8);
    the aligned comparison does not, while a real cut still fires."""
    tex = _texture(3, shape=(H + 16, W + 16 + 10 * speed))
    lumas = [_crop(tex, i * speed) for i in range(10)]
    assert not any(is_cut(lumas[t - 1], lumas[t]) for t in range(1, len(lumas)))
    assert is_cut(lumas[-1], _crop(_texture(4), 0))
