"""Temporal smoothing of predicted chroma: flow-guided averaging over neighbouring frames.

The model colours each frame on its own, so its ab flickers from frame to frame. A
`ChromaSmoother` sits between the engine and the writer:

    smoother = ChromaSmoother()                          # strength 1, radius 2
    for frame, ab, small in predicted:                  # in film order
        for (frame, small), ab in smoother.push((frame, small), small, ab):
            writer.write(frame, ab, small)
    for (frame, small), ab in smoother.flush():
        writer.write(frame, ab, small)

Pixel formats at this boundary (the engine's, see engine.Colorizer.predict_ab):
- luma: "float32 h x w in [0, 1], luma at render size"
- ab:   "float32 h x w x 2 ab in [-128, 127]" at the same size

Method. For frame t, the ab of each neighbour s = t +- k (1 <= k <= radius, same shot) is
warped onto frame t along dense optical flow t -> s computed on the render-size luma
(OpenCV DIS, PRESET_FAST: about 1 ms per flow at 256 x 188 on a 2-core CPU, against about
4 ms for DIS MEDIUM and 10 ms for Farneback). Flows are computed once per adjacent pair,
one each way, and chained for farther neighbours (t -> t+2 is t -> t+1 followed by t+1 ->
t+2 sampled where the first one lands): 2 flows a frame instead of 2 * radius. Measured
against a flow per neighbour (`compose=False`) by scripts/compare_flow_chaining.py on
Megamind.avi: ab flicker 1.5838 against 1.5834 at render size 128 and 1.1620 against
1.1608 at 256, PSNR and AuC equal to the third decimal; smoothing at radius 2 costs 1.57
instead of 2.40 ms a frame at 128 x 94 (scripts/bench_temporal.py --size 128x94
--repeat 9). Each warped neighbour gets a per-pixel weight

    w_s(x) = strength ** k * exp(-(d(x) / luma_tolerance) ** 2) * inside(x)

where d is the 3 x 3 mean of |warped neighbour luma - frame luma| (the photometric check:
where the flow is wrong, or the pixel is occluded, the luma does not match and the
neighbour is ignored there) and inside is 0 where the flow points out of the frame. The
output is (ab_t + sum_s w_s ab_s_warped) / (1 + sum_s w_s): frame t always keeps weight 1.
strength = 0 (or radius = 0) returns every ab array unchanged, bit for bit.

Scene cuts. No average crosses a cut: when a cut is found between t-1 and t, every frame
still waiting is finished with the neighbours it has, and frames from t on never see an
earlier frame. The detector (`cut_score`) compares 32-pixel-wide thumbnails of the two
lumas: the score is the larger of 1 - normalised cross-correlation (an unrelated picture
scores ~1, the same picture moved a little ~0, whatever the exposure) and 4 x mean absolute
difference (which catches cuts to or from an almost flat frame, where the correlation is
undefined), taken as they are and after aligning them by phase correlation, the lower of
the two (so a fast pan over fine detail, which moves a thumbnail by a pixel or more a
frame, is not a cut). A cut is a score above `cut_threshold` (default 0.4). On the 270-frame
Megamind.avi test clip the four real cuts score 0.55 to 0.84 and every other pair at most
0.06; on pans over 8 validation photos (scripts/make_pan_clip.py) the 7 cuts score 0.80 to
1.38 and every other pair at most 0.27 (without the alignment, 5 pairs in one fast pan
scored 0.40 to 0.42 and were taken for cuts). A missed cut is softened by the
photometric check; a false cut loses smoothing at one frame boundary and stops painted
colour (propagate.py) there.

Defaults, by measurement (Megamind.avi colorized with the then-default Fig. 2 weights at render size
256, warping error in the ab domain, metrics.WarpingError): with synthetic film grain
(sigma 0.04) and exposure flicker (3 %) on the luma, off 4.37; strength 0.5 / radius 1
2.59, 1 / 1 2.22, 0.5 / 2 2.34, 1 / 2 1.93 (-56 %), 1 / 3 1.81; on the clean clip off 1.35,
1 / 2 0.99 (-27 %); on every 3rd frame (3x the motion) off 8.08, 1 / 2 5.02 (-38 %). AuC and
PSNR against the colour original did not drop in any run, and the mean change of ab is
0.1 to 0.3 units. The cost grows with the radius, not with the strength: strength 1,
radius 2 (about 8 ms a frame at 256 x 144 on the 2-core CPU with a flow per neighbour, as
these defaults were measured); radius 3 costs a quarter more for a few points.

Latency and memory: outputs come out in push order, `radius` frames behind (less at a
cut); the smoother holds at most 2 * radius + 1 frames (their luma, ab and items), never
more, whatever the film's length.
"""

import functools
import logging
from collections import deque

import cv2
import numpy as np

from .options import DEFAULT_RADIUS, DEFAULT_STRENGTH  # noqa: F401  (measured: see above)

log = logging.getLogger("filmcolor")

DEFAULT_CUT_THRESHOLD = 0.4
DEFAULT_LUMA_TOLERANCE = 0.05  # luma units in [0, 1]; a mismatch of 2x this weighs e**-4
THUMB_WIDTH = 32
MAD_SCALE = 4.0  # cut_score's MAD term: a mean luma jump of 0.1 scores 0.4
FLAT_STD = 0.01  # thumbnails flatter than this have no usable correlation
# cut_score compares thumbnails again after a shift found by phase correlation: from a
# quarter of a thumbnail pixel (less is what the plain comparison already forgives) to a
# quarter of the thumbnail (a larger shift leaves too little overlap to trust)
MIN_PAN, MAX_PAN = 0.25, 0.25


def _thumb(luma):
    h, w = luma.shape
    th = max(1, round(h * THUMB_WIDTH / w))
    small = cv2.resize(np.asarray(luma, np.float32), (THUMB_WIDTH, th),
                       interpolation=cv2.INTER_AREA)
    return small.reshape(th, THUMB_WIDTH)


def cut_score(prev_luma, luma):
    """How much two consecutive lumas (float32 h x w in [0, 1]) look like a scene cut:
    max(1 - NCC, 4 * MAD) of their 32-pixel-wide thumbnails, taken as they are and again
    after moving the first by the shift that phase correlation finds between them (the
    lower counts); ~0 for the same shot, also in a fast pan. Lumas of different sizes
    score infinity (nothing can be warped between them)."""
    if prev_luma.shape != luma.shape:
        return float("inf")
    a, b = _thumb(prev_luma), _thumb(luma)
    score = _thumb_score(a, b)
    h, w = a.shape
    (dx, dy), _ = cv2.phaseCorrelate(a, b)
    if max(abs(dx), abs(dy)) >= MIN_PAN and abs(dx) <= MAX_PAN * w and abs(dy) <= MAX_PAN * h:
        moved = cv2.warpAffine(a, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x0, x1 = int(np.ceil(max(dx, 0.0))), w - int(np.ceil(max(-dx, 0.0)))
        y0, y1 = int(np.ceil(max(dy, 0.0))), h - int(np.ceil(max(-dy, 0.0)))
        score = min(score, _thumb_score(moved[y0:y1, x0:x1], b[y0:y1, x0:x1]))
    return score


def _thumb_score(a, b):
    mad = float(np.mean(np.abs(a - b)))
    a = a - a.mean()
    b = b - b.mean()
    sa, sb = float(np.sqrt(np.mean(a * a))), float(np.sqrt(np.mean(b * b)))
    if sa < FLAT_STD or sb < FLAT_STD:
        decorrelation = 0.0
    else:
        decorrelation = 1.0 - float(np.mean(a * b)) / (sa * sb)
    return max(decorrelation, MAD_SCALE * mad)


def is_cut(prev_luma, luma, threshold=DEFAULT_CUT_THRESHOLD):
    """True if a scene cut lies between `prev_luma` and `luma` (see cut_score)."""
    return cut_score(prev_luma, luma) > threshold


def to_uint8(luma):
    """float32 luma in [0, 1] -> uint8, what OpenCV's optical flow takes."""
    return np.clip(luma * 255.0 + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _grid(h, w):
    """The pixel grid as (x, y) float32 h x w x 2, cached per size."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def remap_grid(flow):
    """Flow h x w x 2 (dx, dy) -> absolute sampling map (x + dx, y + dy), float32 h x w x 2,
    the form cv2.remap takes as one map."""
    return flow + _grid(*flow.shape[:2])


def warp(img, flow):
    """Backward warp: out(x) = img(x + flow(x)), bilinear, border replicated.

    With flow computed from frame t to frame s (frame t's pixel x is at x + flow(x) in
    frame s), this brings frame s onto frame t. Returns (warped, inside) where inside is a
    bool h x w mask of the pixels whose source lies within img."""
    h, w = flow.shape[:2]
    xy = remap_grid(flow)
    out = cv2.remap(img, xy, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if out.ndim < img.ndim:
        out = out.reshape(img.shape)
    inside = cv2.inRange(xy, (0.0, 0.0), (w - 1.0, h - 1.0)) != 0
    return out, inside


class _Frame:
    __slots__ = ("ab", "item", "lab", "luma8", "to_next", "to_prev")

    def __init__(self, item, luma, ab, keep_planes):
        self.item = item
        self.ab = ab
        self.to_next = self.to_prev = None  # flows to the adjacent frames (compose mode)
        if keep_planes:
            self.luma8 = to_uint8(luma)
            # luma and ab in one array: one remap per neighbour warps both
            self.lab = np.dstack([luma, ab]).astype(np.float32, copy=False)
        else:
            self.luma8 = self.lab = None


class ChromaSmoother:
    """Stateful flow-guided smoothing of ab; see the module docstring for the method.

    push(item, luma, ab) -> list of (item, ab_smoothed), flush() -> the rest. `item` is
    anything the caller wants back with its frame's ab (the frame, its render-size luma);
    it is passed through untouched. Every pushed item comes out exactly once, in push
    order, at most `radius` pushes later; flush() at the end of the film returns the rest
    and resets the smoother for another film. Arrays handed to push() must not be changed
    by the caller until their item has come out.

    strength in [0, 1]: a neighbour k frames away weighs at most strength ** k against the
    frame's own 1 (1 is a plain average over the window where the flow holds). radius:
    frames on each side. cut_threshold: see cut_score (inf turns cut detection off).
    luma_tolerance: the luma mismatch (in [0, 1]) at which a warped neighbour's weight has
    fallen to 1/e. compose: chain adjacent flows for farther neighbours (default) instead
    of computing one flow per neighbour.
    """

    def __init__(self, strength=DEFAULT_STRENGTH, radius=DEFAULT_RADIUS,
                 cut_threshold=DEFAULT_CUT_THRESHOLD, luma_tolerance=DEFAULT_LUMA_TOLERANCE,
                 compose=True):
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength}")
        if int(radius) != radius or radius < 0:
            raise ValueError(f"radius must be a whole number >= 0, got {radius}")
        if not luma_tolerance > 0:
            raise ValueError(f"luma_tolerance must be > 0, got {luma_tolerance}")
        self.strength = float(strength)
        self.radius = int(radius)
        self.cut_threshold = float(cut_threshold)
        self.luma_tolerance = float(luma_tolerance)
        # compose: one flow each way per adjacent pair, chained for farther neighbours
        # (2 flows a frame instead of 2 * radius)
        self.compose = bool(compose)
        self.active = self.strength > 0 and self.radius > 0
        self._delay = self.radius if self.active else 0  # inactive: straight through
        self._flow = (cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
                      if self.active else None)
        self._buf = deque()  # frames of the current shot still needed, oldest first
        self._next = 0  # index in _buf of the next frame to come out
        self._last_luma = None
        self.cuts = 0  # scene cuts found so far (diagnostics)
        self.max_buffered = 0  # high-water mark of frames held (tests: <= 2 * radius + 1)

    def push(self, item, luma, ab):
        """Add the next frame: `luma` "float32 h x w in [0, 1] at render size", `ab`
        "float32 h x w x 2" at the same size. Returns the (item, ab) pairs now ready."""
        if ab.shape != (*luma.shape, 2):
            raise ValueError(f"ab of shape {ab.shape} does not match luma of shape "
                             f"{luma.shape} (expected h x w x 2)")
        out = []
        if self.active and self._last_luma is not None and \
                cut_score(self._last_luma, luma) > self.cut_threshold:
            self.cuts += 1
            log.debug("scene cut before pushed frame (cut %d)", self.cuts)
            out.extend(self._drain())
        self._last_luma = luma
        self._buf.append(_Frame(item, luma, ab, self.active))
        self.max_buffered = max(self.max_buffered, len(self._buf))
        while len(self._buf) - 1 - self._next >= self._delay:
            out.append(self._emit())
        return out

    def flush(self):
        """End of the film: every frame still held, smoothed with the neighbours it has."""
        out = self._drain()
        self._last_luma = None
        return out

    def _drain(self):
        out = []
        while self._next < len(self._buf):
            out.append(self._emit())
        self._buf.clear()
        self._next = 0
        return out

    def _emit(self):
        i = self._next
        frame = self._buf[i]
        ab = self._smooth(i) if self.active else frame.ab
        self._next += 1
        while self._next > self._delay:  # past frames no later frame will need
            self._buf.popleft()
            self._next -= 1
        return frame.item, ab

    def _smooth(self, i):
        buf = self._buf
        centre = buf[i]
        lo, hi = max(0, i - self.radius), min(len(buf) - 1, i + self.radius)
        if lo == hi:
            return centre.ab
        luma = centre.lab[..., 0]
        acc = centre.ab.astype(np.float32, copy=True)
        total = np.ones(luma.shape, np.float32)
        for j in range(lo, hi + 1):
            if j == i:
                continue
            other = buf[j]
            flow = (self._chained(i, j) if self.compose
                    else self._flow.calc(centre.luma8, other.luma8, None))
            warped, inside = warp(other.lab, flow)
            mismatch = cv2.blur(np.abs(warped[..., 0] - luma), (3, 3))
            mismatch *= np.float32(1.0 / self.luma_tolerance)
            w = np.exp(-mismatch * mismatch)
            w *= np.float32(self.strength ** abs(j - i))
            w[~inside] = 0.0
            warped[..., 1] *= w
            warped[..., 2] *= w
            acc += warped[..., 1:]
            total += w
        return acc / total[..., None]

    def _step(self, a, b):
        """Flow from buffered frame a to its neighbour b (= a +- 1), computed once."""
        frame, other = self._buf[a], self._buf[b]
        attr = "to_next" if b > a else "to_prev"
        flow = getattr(frame, attr)
        if flow is None:
            flow = self._flow.calc(frame.luma8, other.luma8, None)
            setattr(frame, attr, flow)
        return flow

    def _chained(self, i, j):
        """Flow from frame i to frame j, composed from adjacent steps: a pixel x of i goes
        to x + f1(x) in the next frame, then on by that frame's step sampled there."""
        direction = 1 if j > i else -1
        flow = self._step(i, i + direction)
        for k in range(i + direction, j, direction):
            step, _ = warp(self._step(k, k + direction), flow)
            flow = flow + step
        return flow
