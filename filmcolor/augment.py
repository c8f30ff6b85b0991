"""Training-time input augmentation: make clean photos' lightness look like old film's.

Acts on the network input only ("float32 L / 100, H x W x 1 in [0, 1]"); the ab target is
left as the photo's, so the network learns to see the same colours through a tone curve,
grain, softness, compression blocks and a darker rim. Pure numpy + OpenCV.
"""

import cv2
import numpy as np


def film_like(x, rng):
    """One random degradation of a crop; each effect is drawn on its own."""
    L = x[..., 0].astype(np.float32)
    if rng.random() < 0.8:  # tone: gamma, contrast about mid-gray, gain/offset
        L = np.clip(L, 0.0, 1.0) ** np.exp(rng.uniform(-0.4, 0.4))
        L = (L - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.08, 0.08)
    if rng.random() < 0.3:  # vignetting: darker corners, as from old lenses and projectors
        h, w = L.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((yy - rng.uniform(0.3, 0.7) * h) / h) ** 2 + ((xx - rng.uniform(0.3, 0.7) * w) / w) ** 2
        L = L * (1.0 - rng.uniform(0.1, 0.5) * r2)
    if rng.random() < 0.3:  # optical softness
        L = cv2.GaussianBlur(L, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:  # film grain: noise, a little clumped
        noise = rng.normal(0.0, rng.uniform(0.01, 0.05), L.shape).astype(np.float32)
        if rng.random() < 0.5:
            noise = cv2.GaussianBlur(noise, (0, 0), 0.7) * 1.8
        L = L + noise
    L = np.clip(L, 0.0, 1.0)
    if rng.random() < 0.25:  # JPEG blocking of digitised copies
        q = int(rng.integers(20, 70))
        ok, buf = cv2.imencode(".jpg", np.rint(L * 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, q])
        L = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    return L[..., None].astype(np.float32)
