"""Painted chroma carried through a shot along optical flow, with a confidence per pixel.

    ab, conf = propagate_shot(lumas, {12: painted_ab})   # one shot, render size
    out = blend(ab, conf, model_ab)                       # the model fills the rest

Pixel formats (as temporal.py): luma "float32 h x w in [0, 1]", ab "float32 h x w x 2 in
[-128, 127]", confidence "float32 h x w in [0, 1]".

Method. From each reference frame r the painted ab goes forward (r+1, r+2, ...) and
backward (r-1, ...) one frame at a time: frame t takes frame t-1's carried ab by backward
warping along the DIS flow t -> t-1 (temporal.warp). Its confidence is the previous one,
warped the same way, times
- a forward-backward check: the flow there and back should return to the same pixel;
  where it does not (occlusion, a wrong flow), exp(-((error - FB_SLACK)+ / FB_TOLERANCE)**2);
- a luma check: the warped luma of t-1 should match t's, the same falloff in luma units;
- DECAY per frame, so colour carried far gives way to the model smoothly;
- zero where the flow points out of the frame.
Two references in one shot are blended by confidence (weighted by its odds, c / (1 - c),
so the nearer, surer one dominates). An edge-aware fill (a guided filter
on the luma, He et al. 2010, as normalised convolution) then spreads confident colour to
neighbouring pixels of similar luma. A reference frame keeps its painted confidence (1, or
a mask of what was painted), so it comes out with its painted chroma there. The caller
never passes frames of two shots.
"""

import cv2
import numpy as np

from .temporal import to_uint8, warp

# confidence kept per frame carried (0.5 after about 138 frames). 0.985 before: on the
# validation clips (pans, objects, film-like, and film-like with 120-frame shots; PSNR dB
# / ab flicker) 0.985 gave 32.32 / 0.303, 28.71 / 0.731, 29.51 / 0.740, 28.62 / 0.322;
# 0.995 gives 32.88 / 0.288, 28.85 / 0.729, 29.67 / 0.737, 29.05 / 0.300. It holds 2,759
# frames per painted frame in a long still shot instead of 917: a peak of 707 MiB at
# 128 x 72 (scripts/bench_propagate.py --memory; 236 MiB at 0.985 now, 477 MiB before the
# flows were kept in half precision and the sums reused).
DECAY = 0.995
MIN_CONF = 1e-3  # below this nothing is carried further
# frames a painted frame can reach each way: DECAY alone brings its confidence below
# MIN_CONF there, so callers need to hold no frame farther from every reference
REACH = int(np.ceil(np.log(MIN_CONF) / np.log(DECAY)))
# Each check forgives a small error (sub-pixel flow noise, sensor grain) and then falls off:
# a disagreement of SLACK + TOLERANCE weighs e**-1. Without the slack the per-frame factors
# multiply up, and even a well-tracked object loses its colour within a few frames.
FB_SLACK, FB_TOLERANCE = 0.5, 1.0  # render-size pixels, forward-backward disagreement
# luma units in [0, 1]. The tolerance was 0.05; on the validation clips (pans, objects,
# film-like; PSNR dB / ab flicker) 0.05 gave 31.89 / 0.359, 28.44 / 0.849, 29.24 / 0.857;
# 0.1: 32.17 / 0.321, 28.62 / 0.778, 29.43 / 0.788; 0.2: 32.32 / 0.303, 28.71 / 0.731,
# 29.51 / 0.740; 0.4 and 1 (nearly off) within 0.08 dB and 4% of 0.2. The forward-backward
# check finds these clips' occlusions alone, so the strictest tolerance that gives up
# neither is kept: the luma check still ends colour the flow carried onto something else.
LUMA_SLACK, LUMA_TOLERANCE = 0.02, 0.2
# DIS's medium preset, not the fast one the smoother uses: carried colour follows every
# error of the flow for hundreds of frames, and on pans over the validation photos
# (scripts/make_pan_clip.py) it gave +0.2 dB and 4% less ab flicker (Megamind: +0.7 dB,
# 20% less); it takes 1.8-2.6x the fast preset's time (scripts/bench_propagate.py), still
# far less than the model's share (README, "Frames to paint")
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
# Carried colour weighs conf ** BLEND_POWER against the model's. On the pans clip the
# flicker was lowest from 0.35 to 0.5 (power 1: 30.94 dB, ab flicker 0.455; 0.5: 31.89,
# 0.382; 0.35: 32.28, 0.381; 0.25: 32.56, 0.421; the model alone 0.398): a weight that
# falls slowly keeps a wrong model colour from showing through in patches. The pans have
# no occlusions, which the confidence checks exist for, so the cautious end is taken.
BLEND_POWER = 0.5
# The fill's guided filter: window radius (render-size pixels) and regularisation (luma
# variance units). A small eps makes the filled chroma follow the luma's texture and grain
# (the filter's output is a * luma + b), which changes every frame: at radius 4, eps 1e-3
# the fill made most of the carried colour's own flicker on Megamind.avi at render size
# (0.27 of it, against 0.05 without the fill). Chosen on the validation clips
# (scripts/make_pan_clip.py: pans, --objects, --objects --film-like): the lowest flicker
# that cost none of them PSNR. PSNR dB / ab flicker on objects, pans, film-like:
#   radius 4, eps 1e-3: 28.39 / 0.953, 31.89 / 0.382, 29.17 / 0.954 (before)
#   4, 1e-2: 28.38 / 0.910, 31.86 / 0.370, 29.17 / 0.904
#   8, 1e-2: 28.45 / 0.879, 31.89 / 0.365, 29.26 / 0.876
#   16, 1e-2: 28.44 / 0.849, 31.89 / 0.359, 29.24 / 0.857 (taken)
#   16, 3e-2: 28.41 / 0.825, 31.83 / 0.354, 29.21 / 0.829
#   32, 1e-2: 28.31 / 0.822, 31.79 / 0.363; the model alone 0.953, 0.398, 0.922.
# (All with LUMA_TOLERANCE 0.05.) Megamind.avi disagreed on PSNR: first frames 30.82 dB
# against 31.24 before, flicker 0.268 against 0.274 (middle: 32.97 / 33.40, 0.435 / 0.425).
FILL_RADIUS = 16
FILL_EPS = 1e-2


class _Flows:
    """DIS flows between adjacent frames of one shot, computed once each way and kept in
    half precision (a shot's largest array; 0.03 px at 64 px of motion)."""

    def __init__(self, lumas):
        self.luma8 = [to_uint8(y) for y in lumas]
        self.dis = cv2.DISOpticalFlow_create(FLOW_PRESET)
        self.cache = {}

    def flow(self, a, b):
        """Flow from frame a to frame b: a's pixel x is at x + flow(x) in b."""
        if (a, b) not in self.cache:
            self.cache[a, b] = self.dis.calc(self.luma8[a], self.luma8[b], None
                                             ).astype(np.float16)
        return self.cache[a, b].astype(np.float32)


def _carry(lumas, flows, r, ab, conf0, step):
    """Yield (t, ab, conf) for frames r, r+step, ... to the end of the shot, from frame r
    (painted `ab`, confidence `conf0` there); only the frame before is held."""
    prev_ab, prev_conf = ab, conf0
    yield r, ab, conf0
    t = r + step
    while 0 <= t < len(lumas) and abs(t - r) <= REACH:
        prev = t - step
        to_prev = flows.flow(t, prev)
        carried, inside = warp(np.dstack([prev_ab, prev_conf, lumas[prev]]), to_prev)
        back, _ = warp(flows.flow(prev, t), to_prev)  # t -> prev -> t should return home
        fb = np.hypot(*np.moveaxis(to_prev + back, -1, 0))
        luma_d = cv2.blur(np.abs(carried[..., 3] - lumas[t]), (3, 3))
        conf = (carried[..., 2] * DECAY * _falloff(fb, FB_SLACK, FB_TOLERANCE)
                * _falloff(luma_d, LUMA_SLACK, LUMA_TOLERANCE) * inside)
        prev_ab, prev_conf = carried[..., :2], conf.astype(np.float32)
        yield t, prev_ab, prev_conf
        if float(conf.max()) < MIN_CONF:  # nothing left to carry
            break
        t += step


def _falloff(error, slack, tolerance):
    return np.exp(-(np.maximum(error - slack, 0.0) / tolerance) ** 2)


def guided_fill(ab, conf, luma, radius=None, eps=None):
    """Spread confident ab to neighbours of similar luma: normalised convolution with a
    guided filter (guide: luma; FILL_RADIUS and FILL_EPS unless given). Returns (ab,
    conf) with conf the filtered confidence."""
    radius = FILL_RADIUS if radius is None else radius
    eps = FILL_EPS if eps is None else eps

    def gf(p):
        return guided_filter(luma, p, radius, eps)

    weight = np.clip(gf(conf), 0.0, 1.0)
    filled = np.dstack([gf(ab[..., k] * conf) for k in range(2)])
    safe = np.maximum(weight, 1e-4)[..., None]
    spread = np.clip(filled / safe, -128.0, 127.0)
    # the original confident pixels stay as they were; the fill only adds where it is weak
    keep = conf[..., None]
    out_ab = keep * ab + (1.0 - keep) * spread
    return out_ab.astype(np.float32), np.maximum(conf, weight * (weight > 1e-3))


def guided_filter(guide, src, radius, eps):
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    cov = box(guide * src) - mean_i * mean_p
    var = box(guide * guide) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def propagate_shot(lumas, references, fill=True):
    """Painted ab of `references` ({frame index in the shot: ab, or (ab, conf) where only
    part of the frame is painted}) carried to every frame of the shot `lumas`; returns (ab
    list, conf list), conf 0 where nothing reached."""
    n = len(lumas)
    h, w = lumas[0].shape
    lumas = [np.asarray(y, np.float32) for y in lumas]
    flows = _Flows(lumas)
    acc_ab = [np.zeros((h, w, 2), np.float32) for _ in range(n)]
    acc_w = [np.zeros((h, w), np.float32) for _ in range(n)]
    best = [np.zeros((h, w), np.float32) for _ in range(n)]
    given = {}
    for r, ref in references.items():
        ab, conf0 = ref if isinstance(ref, tuple) else (ref, np.ones((h, w), np.float32))
        given[r] = (np.asarray(ab, np.float32), np.asarray(conf0, np.float32))
    for r, (ab, conf0) in sorted(given.items()):
        for step in (1, -1):
            for t, carried, conf in _carry(lumas, flows, r, ab, conf0, step):
                if step == -1 and t == r:
                    continue  # the reference frame itself, counted once
                odds = conf / (1.001 - conf)  # the nearer, surer reference dominates
                acc_ab[t] += odds[..., None] * carried
                acc_w[t] += odds
                best[t] = np.maximum(best[t], conf)
    del flows  # not needed any more; the results reuse the sums' arrays
    out_ab, out_conf = [], []
    for t in range(n):
        ab, conf = acc_ab[t], best[t]
        ab /= np.maximum(acc_w[t], 1e-6)[..., None]
        acc_ab[t] = acc_w[t] = best[t] = None  # handed over below, or dropped
        if t in given:
            ab, conf = given[t][0].copy(), given[t][1].copy()
        elif fill and float(conf.max()) > 0:
            ab, conf = guided_fill(ab, conf, lumas[t])
        out_ab.append(ab.astype(np.float32, copy=False))
        out_conf.append(np.clip(conf, 0.0, 1.0, out=conf).astype(np.float32, copy=False))
    return out_ab, out_conf


def blend(ab, conf, model_ab):
    """The carried ab where it is confident, the model's prediction where it is not, in
    proportion to conf ** BLEND_POWER."""
    c = np.power(np.clip(conf, 0.0, 1.0), BLEND_POWER)[..., None]
    return (c * ab + (1.0 - c) * np.asarray(model_ab, np.float32)).astype(np.float32)
