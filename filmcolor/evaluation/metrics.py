"""The paper's metrics and the standard ones. Library implementations where they exist.

Inputs: float32 RGB H x W x 3 in [0, 1]; ab as float32 H x W x 2 in [-128, 127]; "code" is
the network's sigmoid-range target/output (color.encode_ab). The video metric
(warping_error, WarpingError) also takes the source's luma, float32 H x W in [0, 1].
"""

import math

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016, section 3.1


def paper_mse(code_pred, code_true):
    """The paper's 'MSE': the training loss's mean squared error in the network's units."""
    return float(np.mean((code_pred - code_true) ** 2))


def paper_accuracy(code_pred, code_true):
    """Keras' 'accuracy' on a 2-channel output: share of pixels where argmax(a, b) agrees.

    This is what `metrics=["accuracy"]` computes for this model (CategoricalAccuracy); it
    says only whether a > b in both images, not whether the colour is right.
    """
    return float(np.mean(np.argmax(code_pred, -1) == np.argmax(code_true, -1)))


def paper_psnr(mse_code):
    """10 log10(255^2 / MSE) with the MSE in network units (0..1): the 8-bit formula applied
    to a 0..1-scale error, which adds 48.1 dB. Our reading of how 0.3174 could sit beside
    54.19 dB; reported only to compare with the paper."""
    return float(10.0 * np.log10(255.0 ** 2 / max(mse_code, 1e-12)))


def psnr_rgb(pred, truth):
    """PSNR in dB of the RGB image (data range 1); +inf for identical images."""
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(truth, pred, data_range=1.0))


def ssim_rgb(pred, truth):
    """SSIM (Wang et al. 2004) over RGB channels, Gaussian-free default window."""
    return float(structural_similarity(truth, pred, channel_axis=-1, data_range=1.0))


def colorfulness(rgb):
    """Hasler & Suesstrunk (2003) colourfulness M on the 0..255 scale (0 for a gray image)."""
    r, g, b = (rgb[..., i].astype(np.float64) * 255.0 for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def auc_ab(ab_pred, ab_true, max_threshold=AUC_MAX_THRESHOLD):
    """Area under the CDF of per-pixel ab error (Zhang et al. 2016), thresholds 0..150,
    normalised to [0, 1]."""
    err = np.linalg.norm(ab_pred.astype(np.float64) - ab_true, axis=-1).ravel()
    thresholds = np.arange(max_threshold + 1)
    cdf = np.searchsorted(np.sort(err), thresholds, side="right") / err.size
    return float(np.trapezoid(cdf, thresholds) / max_threshold)


def ab_spread(ab):
    """Chroma variation within one image: RMS over a and b of each channel's std (ab units).

    Colourfulness alone cannot tell a uniform tint from real colouring; this is ~0 for both
    a gray image and a constant tint."""
    flat = ab.reshape(-1, 2).astype(np.float64)
    return float(np.sqrt(np.mean(flat.var(axis=0))))


# ----------------------------------------------------------------------------- flicker

# Lai et al. 2018's occlusion test (from Ruder et al. 2016), in pixels of the frames given
OCC_RELATIVE, OCC_ABSOLUTE = 0.01, 0.5
BOUNDARY_RELATIVE, BOUNDARY_ABSOLUTE = 0.01, 0.002


def _sq(flow):
    """Squared length of each flow vector."""
    return flow[..., 0] ** 2 + flow[..., 1] ** 2


def _farneback(a, b):
    """Dense flow a -> b on uint8 planes: a(x) ~ b(x + flow(x))."""
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=3, winsize=15,
                                        iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def occlusion_mask(flow, back):
    """Occluded pixels of a frame t, from flow t -> t-1 (`flow`) and t-1 -> t (`back`),
    both float32 H x W x 2 in pixels. As in Lai et al. 2018: occluded where the round trip
    does not come back, |F + B(x + F)|^2 > 0.01 (|F|^2 + |B(x + F)|^2) + 0.5, or on a
    motion boundary of F, |grad u|^2 + |grad v|^2 > 0.01 |F|^2 + 0.002 (central
    differences); also where x + F leaves the frame. Returns bool H x W, True = occluded."""
    from ..temporal import warp

    back_w, inside = warp(back, flow)
    round_trip = _sq(flow + back_w) > OCC_RELATIVE * (_sq(flow) + _sq(back_w)) + OCC_ABSOLUTE
    du_y, du_x = np.gradient(flow[..., 0])
    dv_y, dv_x = np.gradient(flow[..., 1])
    boundary = (du_x ** 2 + du_y ** 2 + dv_x ** 2 + dv_y ** 2 >
                BOUNDARY_RELATIVE * _sq(flow) + BOUNDARY_ABSOLUTE)
    return round_trip | boundary | ~inside


def source_motion(prev_src, src):
    """Motion between two consecutive SOURCE frames (luma, float32 H x W in [0, 1]):
    (flow t -> t-1, float32 H x W x 2; visible, bool H x W, the pixels not occluded).

    Flow is OpenCV's Farneback, on purpose not the DIS flow that temporal.py smooths
    along, so the smoother is not graded by its own motion estimate. Compute it once per
    source pair and pass it to WarpingError.add() for every output being compared."""
    from ..temporal import to_uint8

    if prev_src.shape != src.shape:
        raise ValueError(f"source frames differ in size: {prev_src.shape} and {src.shape}")
    a, b = to_uint8(src), to_uint8(prev_src)
    flow = _farneback(a, b)
    back = _farneback(b, a)
    return flow, ~occlusion_mask(flow, back)


class WarpingError:
    """Streaming temporal warping error (Lai et al. 2018, "Learning Blind Video Temporal
    Consistency", eq. 9), for films too long to hold in memory.

    For each consecutive pair, the previous OUTPUT frame is warped onto frame t along the
    flow t -> t-1 of the SOURCE frames; the pair's error is the mean over non-occluded
    pixels of the squared difference summed over channels, ||O_t - warp(O_t-1)||^2, and
    `value` is the mean over pairs. Domain: whatever the outputs are, in their units; the
    paper's (and filmcolor eval's) is RGB float32 H x W x 3 in [0, 1], where a uniform
    flicker of 0.1 in every channel scores 3 x 0.01 = 0.03. Outputs and sources must share
    H x W; the occlusion thresholds are in pixels, so compare figures computed at the same
    size. A pair whose pixels are all occluded (a scene cut, usually) is not counted
    (`skipped`); the pairs across a cut are otherwise counted like any other.

        we = WarpingError()
        for prev_src, src, prev_out, out in pairs:   # or we.push(src, out) frame by frame
            we.update(prev_src, src, prev_out, out)
        we.value
    """

    def __init__(self):
        self.total = 0.0
        self.pairs = 0
        self.skipped = 0
        self._last = None

    def add(self, motion, prev_out, out):
        """Count one pair with `motion` = source_motion(prev_src, src); returns the pair's
        error (None if every pixel was occluded)."""
        flow, visible = motion
        if prev_out.shape != out.shape or out.shape[:2] != flow.shape[:2]:
            raise ValueError(f"output frames {prev_out.shape} and {out.shape} do not match "
                             f"the source frames' size {flow.shape[:2]}")
        n = int(visible.sum())
        if n == 0:
            self.skipped += 1
            return None
        from ..temporal import warp

        prev = np.ascontiguousarray(prev_out, dtype=np.float32)
        warped, _ = warp(prev, flow)
        diff = (np.asarray(out, np.float32) - warped).reshape(*flow.shape[:2], -1)
        err = float(np.sum(np.square(diff, dtype=np.float64)[visible]) / n)
        self.total += err
        self.pairs += 1
        return err

    def update(self, prev_src, src, prev_out, out):
        """Count the pair (t-1, t) of sources (luma) and outputs; returns its error."""
        return self.add(source_motion(prev_src, src), prev_out, out)

    def push(self, src, out):
        """Frame-by-frame form: counts the pair with the previous push (none at first)."""
        last, self._last = self._last, (src, out)
        if last is None:
            return None
        return self.update(last[0], src, last[1], out)

    @property
    def value(self):
        """Mean pair error so far (nan before the first pair)."""
        return self.total / self.pairs if self.pairs else math.nan


def warping_error(outputs, sources):
    """Warping error (WarpingError) of a clip: `outputs` (e.g. RGB float32 H x W x 3 in
    [0, 1]) and `sources` (luma float32 H x W in [0, 1]), two iterables in frame order;
    generators are fine, only two frames of each are held."""
    we = WarpingError()
    count = 0
    for count, (out, src) in enumerate(zip(outputs, sources, strict=True), 1):
        we.push(src, out)
    if count < 2:
        raise ValueError(f"warping error needs at least 2 frames, got {count}")
    return we.value
