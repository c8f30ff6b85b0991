"""A colour film made of slow pans and zooms over photographs: one shot per photo, so
choices about films (references, flow) can be made on the validation photos instead of on
the one film the README reports (Megamind.avi).

    python scripts/make_pan_clip.py data/corpus/val runs/val-pans.mkv [--shots 8]
    python scripts/make_pan_clip.py data/corpus/val runs/val-objects.mkv --objects
    python scripts/make_pan_clip.py data/corpus/val runs/val-film.avi --objects --film-like

Each shot moves a 320x240 window across its photo (a different direction and zoom per
shot, smooth in time) for --frames frames; the photos are the first --shots of the
folder in sorted order, so the clip is the same on every machine. Lossless FFV1, 25 fps.
With --objects an elliptical cut-out of another validation photo (the next --shots in
order) also crosses each shot in front of the pan, turning a little, so the clip has what
pans lack and films are full of: occlusion, uncovered background and motion boundaries.
With --film-like the frames also get what a real film's do: grain (Gaussian, sigma 0.01 of
full scale, new every frame) and lossy MPEG-4 Part 2 at 400 kbit/s (Megamind.avi is that
codec at 640 kbit/s for 2.3 times the pixels), whose blocks and chroma noise change from
frame to frame.
"""

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmcolor.image import find_images, read_image  # noqa: E402

W, H = 320, 240


def shot(rgb, frames, rng):
    """Frames of one pan: a window of H x W output pixels sliding and zooming over rgb."""
    h, w = rgb.shape[:2]
    scale0 = max(W / w, H / h) * rng.uniform(1.3, 1.6)  # the window never leaves the picture
    scale1 = scale0 * rng.uniform(0.85, 1.15)
    scale1 = max(scale1, max(W / w, H / h) * 1.05)
    angle = rng.uniform(0, 2 * np.pi)
    out = []
    for k in range(frames):
        f = 0.5 - 0.5 * np.cos(np.pi * k / max(frames - 1, 1))  # ease in and out
        s = scale0 + (scale1 - scale0) * f
        ww, wh = W / s, H / s  # the window, in photo pixels
        room_x, room_y = (w - ww) / 2, (h - wh) / 2
        cx = w / 2 + 0.8 * room_x * np.cos(angle) * (2 * f - 1)
        cy = h / 2 + 0.8 * room_y * np.sin(angle) * (2 * f - 1)
        m = np.array([[s, 0, W / 2 - s * cx], [0, s, H / 2 - s * cy]], np.float32)
        out.append(cv2.warpAffine(rgb, m, (W, H), flags=cv2.INTER_AREA if s < 1
                                  else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    return out


def add_object(frames, patch, rng):
    """`frames` with `patch` (an RGB photo) cut to an ellipse crossing them in a straight
    line, turning a little; its edge is antialiased over about a pixel."""
    n = len(frames)
    ah, aw = H * rng.uniform(0.25, 0.35), W * rng.uniform(0.18, 0.28)  # semi-axes
    side = rng.uniform(0, 2 * np.pi)
    start = np.array([W / 2 + 0.6 * W * np.cos(side), H / 2 + 0.6 * H * np.sin(side)])
    end = np.array([W, H]) - start + rng.uniform(-0.1, 0.1, 2) * [W, H]
    spin = rng.uniform(-0.4, 0.4)  # radians over the shot
    ph, pw = patch.shape[:2]
    s = 2.2 * max(ah, aw) / min(ph, pw)  # the patch covers the ellipse however it turns
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for k, frame in enumerate(frames):
        f = k / max(n - 1, 1)
        cx, cy = start + (end - start) * f
        a = spin * (f - 0.5)
        c, si = np.cos(a), np.sin(a)
        m = np.array([[s * c, -s * si, cx - s * (c * pw / 2 - si * ph / 2)],
                      [s * si, s * c, cy - s * (si * pw / 2 + c * ph / 2)]], np.float32)
        moved = cv2.warpAffine(patch, m, (W, H), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        u = ((xx - cx) * c + (yy - cy) * si) / aw
        v = (-(xx - cx) * si + (yy - cy) * c) / ah
        r = np.sqrt(u * u + v * v)
        alpha = np.clip((1.0 - r) * min(ah, aw), 0.0, 1.0)[..., None]  # ~1 px soft edge
        out.append(np.rint(alpha * moved + (1 - alpha) * frame).astype(np.uint8))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--objects", action="store_true",
                    help="an object crosses each shot in front of the pan")
    ap.add_argument("--film-like", action="store_true",
                    help="grain and lossy MPEG-4 instead of clean lossless frames")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    grain_rng = np.random.default_rng(1)  # its own, so the shots match the clean clip's
    found = find_images(args.photos)
    paths = found[:args.shots]
    patches = found[args.shots:2 * args.shots] if args.objects else []
    if args.objects and len(patches) < len(paths):
        sys.exit(f"{args.photos}: --objects needs {2 * args.shots} photos, found {len(found)}")
    tmp = args.out.with_name(f".{args.out.name}.part")
    with av.open(str(tmp), "w", format="avi" if args.film_like else "matroska") as out:
        if args.film_like:
            stream = out.add_stream("mpeg4", rate=25)
            stream.bit_rate, stream.pix_fmt = 400_000, "yuv420p"
        else:
            stream = out.add_stream("ffv1", rate=25)
            stream.pix_fmt = "bgr0"
        stream.width, stream.height = W, H
        for k, path in enumerate(paths):
            rgb, _ = read_image(path)
            frames = shot(np.rint(rgb * 255).astype(np.uint8), args.frames, rng)
            if patches:
                patch, _ = read_image(patches[k])
                frames = add_object(frames, np.rint(patch * 255).astype(np.uint8), rng)
            for frame in frames:
                if args.film_like:
                    noise = grain_rng.normal(0.0, 0.01 * 255, frame.shape[:2])[..., None]
                    frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(args.out)
    print(f"{args.out}: {len(paths)} shots of {args.frames} frames, {W}x{H}")


if __name__ == "__main__":
    main()
