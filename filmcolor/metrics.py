"""The paper's metrics and the standard ones. Library implementations where they exist.

Inputs: float32 RGB H x W x 3 in [0, 1]; ab as float32 H x W x 2 in [-128, 127]; "code" is
the network's sigmoid-range target/output (color.encode_ab).
"""

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
    """PSNR in dB of the RGB image (data range 1)."""
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
