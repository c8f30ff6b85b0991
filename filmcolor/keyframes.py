"""The frames a colourist paints: one gray picture per shot, mapped back to its exact frame.

    filmcolor keyframes film.mp4 keys/            # a frame at the start of every shot
    filmcolor keyframes film.mp4 keys/ --every 10 # and one every 10 s within long shots

KEYS/ gets `frame-NNNNNN.png` for each chosen frame (NNNNNN: its index in presentation
order, counted from 0 as filmcolor decodes the film), at the film's full resolution and in
its stored orientation, as display-referred gray (8-bit, or 16-bit for a 10/12-bit film);
`keyframes.json` with each one's index, pts, time base, time and shot; and `contact.jpg`,
the chosen frames side by side. A shot starts where temporal.is_cut sees a cut, the same
detector that keeps smoothing from crossing shots, so a painted frame never speaks for
another shot. A shot's keyframe is its first frame with a picture in it (not black or flat:
a fade-in is skipped); a shot that is flat throughout gets none. Every file is written
under a temporary name and renamed.
"""

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import InputNotFoundError, UsageError
from .image import is_image_path, write_atomic
from .options import DEFAULT_FILM_RENDER_SIZE
from .shots import frames_by_shot
from .temporal import FLAT_STD
from .video import VideoReader

log = logging.getLogger("filmcolor")

SIDECAR = "keyframes.json"
CONTACT = "contact.jpg"
CUT_SIZE = DEFAULT_FILM_RENDER_SIZE  # the luma size cuts are judged at, as in a film run
SHEET_WIDTH = 240  # width of each picture on the contact sheet
SHEET_COLUMNS = 4


@dataclass(frozen=True)
class Keyframe:
    file: str
    frame: int  # index in presentation order, from 0
    pts: int
    time_base: str  # "num/den"
    seconds: float
    shot: int  # from 0


def frame_file(index):
    return f"frame-{index:06d}.png"


def export_keyframes(src, outdir, every=None, progress=False):
    """Write the keyframes of film `src` into `outdir`; returns the Keyframes."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir}: output must be a folder")
    if every is not None and every <= 0:
        raise UsageError(f"--every {every}: must be more than 0 seconds")
    if not Path(src).is_file():
        raise InputNotFoundError(f"{src}: no such file")
    if is_image_path(src):
        raise UsageError(f"{src}: a picture, not a film (keyframes are chosen from films)")
    chosen, thumbs = [], []
    with VideoReader(src, copy=False) as reader:
        bar = _bar(reader, progress)
        shot, last, wanted, blank = -1, None, False, 0
        for index, frame, small, new_shot in frames_by_shot(reader, CUT_SIZE):
            seconds = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            if new_shot:
                shot += 1
                blank += wanted  # the shot before ended with nothing to paint
                wanted = True
            elif every and last is not None and seconds - last >= every - 1e-6:
                wanted = True
            # a black or flat frame (a fade, a title card's background) has nothing to
            # paint: the shot's first frame with a picture is chosen instead
            if wanted and float(small.std()) >= FLAT_STD:
                wanted, last = False, seconds
                gray = _display_gray(frame)
                key = Keyframe(frame_file(index), index, int(frame.pts or 0),
                               f"{frame.time_base.numerator}/{frame.time_base.denominator}",
                               round(seconds, 6), shot)
                _write_png(outdir / key.file, gray)
                chosen.append(key)
                thumbs.append(_thumb(gray, key))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    blank += wanted
    if not chosen:
        raise UsageError(f"{src}: no frame with a picture to paint (every frame is flat)")
    if blank:
        log.info("%s: %d of %d shots are flat throughout (black, a fade): no keyframe",
                 src, blank, shot + 1)
    write_atomic(outdir / SIDECAR, json.dumps(
        {"film": str(src), "frames": [asdict(k) for k in chosen]}, indent=1).encode())
    write_atomic(outdir / CONTACT, _sheet(thumbs))
    log.info("%s: %d keyframes in %d shots written to %s", src, len(chosen), shot + 1, outdir)
    return chosen


def _bar(reader, progress):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=reader.total_frames or None, unit="frames", desc="keyframes",
                leave=False)


def _display_gray(frame):
    """The frame's luma as full-range gray: uint8, or uint16 when the film has more bits."""
    y = frame.to_float()
    if frame.bits > 8:
        return np.rint(y * 65535.0).astype(np.uint16)
    return np.rint(y * 255.0).astype(np.uint8)


def _write_png(path, gray):
    ok, buf = cv2.imencode(".png", gray)
    if not ok:
        raise UsageError(f"{path}: cannot encode PNG")
    write_atomic(path, buf.tobytes())


def _thumb(gray, key):
    g8 = gray if gray.dtype == np.uint8 else (gray >> 8).astype(np.uint8)
    h, w = g8.shape
    th = max(1, round(h * SHEET_WIDTH / w))
    small = cv2.resize(g8, (SHEET_WIDTH, th), interpolation=cv2.INTER_AREA)
    tile = np.full((th + 22, SHEET_WIDTH), 255, np.uint8)
    tile[:th] = small
    label = f"shot {key.shot + 1}  frame {key.frame}  {key.seconds:.2f} s"
    cv2.putText(tile, label, (4, th + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1, cv2.LINE_AA)
    return tile


def _sheet(tiles):
    height = max(t.shape[0] for t in tiles)
    tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0)), constant_values=255) for t in tiles]
    rows = []
    for i in range(0, len(tiles), SHEET_COLUMNS):
        row = tiles[i:i + SHEET_COLUMNS]
        row += [np.full_like(tiles[0], 255)] * (SHEET_COLUMNS - len(row))
        rows.append(np.hstack([np.pad(t, 2, constant_values=255) for t in row]))
    ok, buf = cv2.imencode(".jpg", np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes()
