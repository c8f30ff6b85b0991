"""propagate.py: painted chroma carried along the flow through one shot."""

import cv2
import numpy as np

from filmcolor.propagate import blend, guided_fill, propagate_shot

H, W, N, REF = 60, 80, 10, 5


def _shot():
    """A textured wall and a bright textured square moving 2 px right per frame; the
    painted reference (frame REF) makes the square red-ish (+40, +20) and the wall blue-ish
    (-10, -30). Returns lumas, the reference ab, and each frame's square mask."""
    rng = np.random.default_rng(3)
    wall = cv2.resize(rng.uniform(0.2, 0.45, (H // 6, W // 6)).astype(np.float32), (W, H),
                      interpolation=cv2.INTER_CUBIC)
    patch = cv2.resize(rng.uniform(0.7, 0.95, (4, 4)).astype(np.float32), (16, 16),
                       interpolation=cv2.INTER_CUBIC)
    lumas, masks = [], []
    for t in range(N):
        y, m = wall.copy(), np.zeros((H, W), bool)
        x0 = 20 + 2 * t
        y[22:38, x0:x0 + 16] = patch
        m[22:38, x0:x0 + 16] = True
        lumas.append(y)
        masks.append(m)
    ref = np.empty((H, W, 2), np.float32)
    ref[...] = (-10.0, -30.0)
    ref[masks[REF]] = (40.0, 20.0)
    return lumas, ref, masks


def _inner(mask, k=3):
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0


def test_the_reference_frame_keeps_its_painted_chroma_exactly():
    lumas, ref, _ = _shot()
    ab, conf = propagate_shot(lumas, {REF: ref})
    assert np.array_equal(ab[REF], ref) and np.all(conf[REF] == 1.0)


def test_colour_follows_the_moving_square_forward_and_backward():
    lumas, ref, masks = _shot()
    ab, conf = propagate_shot(lumas, {REF: ref})
    for t in (REF - 3, REF - 1, REF + 1, REF + 3):
        square, wall = _inner(masks[t]), _inner(~masks[t], 4)
        assert np.median(ab[t][square][:, 0]) > 30, t  # the square stayed red
        assert np.median(ab[t][wall][:, 1]) < -20, t  # the wall stayed blue
        assert np.median(conf[t][square]) > 0.5, t


def test_without_the_fill_the_whole_square_is_reached_through_the_flow():
    """A copy of the reference without motion would reach about a quarter of the moved
    square with confidence, and colour about 60 % of it red."""
    lumas, ref, masks = _shot()
    ab, conf = propagate_shot(lumas, {REF: ref}, fill=False)
    for t in (REF - 3, REF + 3):
        square = masks[t]
        assert np.mean(conf[t][square] > 0.5) > 0.9, t
        assert np.mean(ab[t][square][:, 0] > 30) > 0.9, t


def test_confidence_falls_with_distance_from_the_reference():
    lumas, ref, masks = _shot()
    _, conf = propagate_shot(lumas, {REF: ref}, fill=False)
    wall = _inner(~masks[REF], 6)
    near, far = np.median(conf[REF + 1][wall]), np.median(conf[N - 1][wall])
    assert 0 < far < near < 1


def test_two_references_are_blended_by_confidence_and_the_model_fills_the_rest():
    lumas, ref, _ = _shot()
    other = np.full_like(ref, 0.0)
    other[..., 0] = -60.0
    ab, conf = propagate_shot(lumas, {0: ref, N - 1: other}, fill=False)
    # frame 1 is near the first reference, frame N-2 near the second
    assert np.median(ab[1][..., 1]) < -20 and np.median(ab[N - 2][..., 0]) < -40
    model = np.full_like(ref, 7.0)
    out = blend(ab[1], np.zeros_like(conf[1]), model)
    assert np.array_equal(out, model)  # no confidence: the model's prediction


def test_guided_fill_spreads_colour_within_a_region_of_similar_luma_only():
    luma = np.full((40, 40), 0.2, np.float32)
    luma[:, 20:] = 0.8  # two regions
    ab = np.zeros((40, 40, 2), np.float32)
    conf = np.zeros((40, 40), np.float32)
    ab[10:30, 5:8] = (50.0, 0.0)  # a confident stroke in the dark region
    conf[10:30, 5:8] = 1.0
    out, c = guided_fill(ab, conf, luma, radius=4)
    assert out[20, 10, 0] > 25 and c[20, 10] > 0.1  # spread to dark neighbours
    assert abs(out[20, 25, 0]) < 5 and c[20, 25] < 0.05  # not across the luma edge
