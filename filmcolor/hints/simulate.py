"""Hints drawn from a picture's true colours, as a person would give them: for training the
hint-taking network and for measuring it (the hint curve of Zhang et al. 2017).

Training (`training_hints`): no hints for a share of the crops (the same file stays an
automatic colorizer); otherwise a geometric number of hints (p = 1/8, Zhang et al.), each
a point, the mean colour of a 1-9 px square, or a short stroke that stays where the true
colour is within STROKE_TOLERANCE of its start's, painted in its mean colour (one colour
per stroke, as a brush gives).
Measuring (`points`): N points of 7 x 7 px at seeded random places.
"""

import cv2
import numpy as np

P_GEOMETRIC = 1 / 8  # Zhang et al. 2017
NO_HINTS = 0.25  # share of training crops without any hint
STROKES = 0.3  # share of hints that are strokes, not points
STROKE_LENGTH = (8, 48)  # px
STROKE_WIDTH = (1, 6)  # px
STROKE_TOLERANCE = 12.0  # ab units from the start's colour where a stroke stops
EVAL_PATCH = 7  # px, the points of the hint curve


def training_hints(ab, rng, no_hints=NO_HINTS, strokes=STROKES):
    """ab H x W x 2 (the true colours) -> (hint ab, mask), drawn with `rng`."""
    h, w = ab.shape[:2]
    hint_ab, mask = np.zeros_like(ab, np.float32), np.zeros((h, w), np.float32)
    if rng.random() < no_hints:
        return hint_ab, mask
    for _ in range(int(rng.geometric(P_GEOMETRIC))):
        if rng.random() < strokes:
            _stroke(ab, hint_ab, mask, rng)
        else:
            size = int(rng.integers(1, 10))
            r, c = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            _patch(ab, hint_ab, mask, r, c, size)
    return hint_ab, mask


def points(ab, n, rng, size=EVAL_PATCH):
    """`n` hints of size x size px at random places (centres inside the picture), each the
    mean true colour of its square."""
    h, w = ab.shape[:2]
    hint_ab, mask = np.zeros_like(ab, np.float32), np.zeros((h, w), np.float32)
    for _ in range(n):
        r = int(rng.integers(0, max(1, h - size + 1)))
        c = int(rng.integers(0, max(1, w - size + 1)))
        _patch(ab, hint_ab, mask, r, c, size)
    return hint_ab, mask


def _patch(ab, hint_ab, mask, r, c, size):
    hint_ab[r:r + size, c:c + size] = ab[r:r + size, c:c + size].reshape(-1, 2).mean(axis=0)
    mask[r:r + size, c:c + size] = 1.0


def _stroke(ab, hint_ab, mask, rng):
    """A straight stroke from a random start in a random direction, as long as the true
    colour stays within STROKE_TOLERANCE of the start's; painted in its mean colour."""
    h, w = ab.shape[:2]
    r0, c0 = rng.uniform(0, h - 1), rng.uniform(0, w - 1)
    start = ab[int(r0), int(c0)]
    angle = rng.uniform(0, 2 * np.pi)
    dr, dc = np.sin(angle), np.cos(angle)
    length = 0
    for step in range(1, int(rng.integers(*STROKE_LENGTH)) + 1):
        r, c = int(round(r0 + step * dr)), int(round(c0 + step * dc))
        if not (0 <= r < h and 0 <= c < w) or np.abs(ab[r, c] - start).max() > STROKE_TOLERANCE:
            break
        length = step
    line = np.zeros((h, w), np.uint8)
    end = (int(round(c0 + length * dc)), int(round(r0 + length * dr)))
    cv2.line(line, (int(round(c0)), int(round(r0))), end, 1,
             thickness=int(rng.integers(*STROKE_WIDTH)))
    # a careful hand: the brush's width stays inside the colour too
    on = line.astype(bool) & (np.abs(ab - start).max(axis=-1) <= STROKE_TOLERANCE)
    hint_ab[on] = ab[on].mean(axis=0)
    mask[on] = 1.0
