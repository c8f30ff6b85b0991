"""Painted frames given back: `filmcolor film.mp4 out.mp4 --reference keys/`.

KEYS/ holds frames named as `filmcolor keyframes` names them (`frame-NNNNNN.png`, also
.jpg/.jpeg/.tif/.tiff), painted in any editor. Only their chroma is used (Lab ab); the
film's own luma is kept. What is left gray (chroma below GRAY_CHROMA) counts as not
painted: paint what you know, and the model colours the rest.

Before the model loads, every reference is checked (its name maps to a frame, its aspect
ratio is the film's, it has colour, no frame is given twice); then one decoding pass at
render size finds the shots (the smoother's cut detector) and carries each shot's painted
chroma through it (propagate.py) into a scratch file beside the output, read back frame by
frame while the film is written, so memory does not grow with the film. Where a carried
colour is confident it wins, elsewhere the model's prediction does (propagate.blend); the
blend comes before temporal smoothing, so the smoother sees the colours that are written.
A reference frame itself is written with its painted chroma at full resolution.

Frames are found by pts where the film's pts are unique (so a segment of the film, decoded
from a keyframe in the middle, finds its frames), by count otherwise. `segment_key` names
the painted frames that can change a segment (those of the shots it touches), so a resumed
film redoes only the segments whose painted frames changed. In `filmcolor batch` a film's
first task carries its painted frames once and keeps the result in the film's work folder
(save), where the worker of each segment opens it (load).
"""

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import color
from .errors import UsageError
from .image import read_image
from .propagate import REACH, blend, propagate_shot
from .shots import frames_by_shot
from .video import VideoReader

log = logging.getLogger("filmcolor")

NAME = re.compile(r"^frame-(\d+)\.(png|jpe?g|tiff?)$", re.IGNORECASE)
# an exemplar photo kept with the painted frames (the batch's NAME.refs/ takes one so)
EXEMPLAR_NAME = re.compile(r"^exemplar\.(png|jpe?g|tiff?|webp|bmp)$", re.IGNORECASE)
SAVED_TRACK = "carried-colour"  # ReferenceTrack.save's files: .json (index) and .bin
GRAY_CHROMA = 3.0  # a reference whose |ab| stays below this everywhere gives no colour
ASPECT_TOLERANCE = 0.02  # relative difference of width / height still taken as the same
HINT_CONF = 0.5  # carried colour at least this sure is a hint to a hint-taking model


class BadReferenceError(UsageError):
    """A reference that cannot be used (named with the file)."""


@dataclass
class Reference:
    path: Path
    frame: int
    ab: np.ndarray  # float32 H x W x 2 at the film's size
    painted: np.ndarray  # float32 H x W in [0, 1]: 1 where a colour was painted


def find_references(folder, quiet=False):
    """{frame index: path} of the painted frames in `folder`; stray files are named in one
    warning; two files for one frame, or neither a frame nor an exemplar, are refused."""
    folder = Path(folder)
    if not folder.exists():
        raise BadReferenceError(f"{folder}: no such reference folder")
    if not folder.is_dir():
        raise BadReferenceError(f"{folder}: --reference takes a folder of painted frames "
                             "(frame-NNNNNN.png, as `filmcolor keyframes` writes them)")
    found, stray = {}, []
    for path in sorted(folder.iterdir()):
        m = NAME.match(path.name)
        if not m:
            if path.is_file() and path.name not in ("keyframes.json", "contact.jpg") \
                    and not EXEMPLAR_NAME.match(path.name):
                stray.append(path.name)
            continue
        index = int(m.group(1))
        if index in found:
            raise BadReferenceError(f"{path}: frame {index} is given twice (also "
                                 f"{found[index].name}); keep one")
        found[index] = path
    if stray and not quiet:
        log.warning("%s: ignored %d file%s not named frame-NNNNNN.png: %s", folder,
                    len(stray), "" if len(stray) == 1 else "s", ", ".join(stray[:5])
                    + (", ..." if len(stray) > 5 else ""))
    if not found and find_exemplar(folder) is None:
        raise BadReferenceError(f"{folder}: no painted frames (frame-NNNNNN.png) in it")
    return found


def find_exemplar(folder):
    """The exemplar photo kept in a folder of painted frames (exemplar.jpg, .png, ...), or
    None; two are refused."""
    found = [p for p in sorted(Path(folder).iterdir())
             if p.is_file() and EXEMPLAR_NAME.match(p.name)]
    if len(found) > 1:
        raise BadReferenceError(f"{found[1]}: give one exemplar photo (also {found[0].name})")
    return found[0] if found else None


def references_identity(folder):
    """What names a folder of painted frames in a resume key: each frame file's name and
    the sha256 of its bytes, and its exemplar's (stray files do not count)."""
    frames = [_identity(p) for _, p in sorted(find_references(folder, quiet=True).items())]
    exemplar = find_exemplar(folder)
    return frames + ([_identity(exemplar)] if exemplar is not None else [])


def exemplar_identity(path):
    """[name, sha256] of an exemplar photo, for a resume key."""
    return _identity(Path(path))


def _identity(path):
    import hashlib

    return [path.name, hashlib.sha256(path.read_bytes()).hexdigest()]


def _stamps(folder):
    """[name, size, mtime_ns] of each painted frame and the exemplar: a check that the
    folder is as it was, without reading a file (each segment's worker makes it)."""
    paths = [p for _, p in sorted(find_references(folder, quiet=True).items())]
    exemplar = find_exemplar(folder)
    stats = ((p, p.stat()) for p in paths + ([exemplar] if exemplar is not None else []))
    return [[p.name, st.st_size, st.st_mtime_ns] for p, st in stats]


def read_reference(path, frame, width, height):
    """The painted frame's ab at the film's size; BadReferenceError for a picture of another
    aspect ratio, or one without colour."""
    rgb, _ = read_image(path)
    h, w = rgb.shape[:2]
    if abs((w / h) / (width / height) - 1) > ASPECT_TOLERANCE:
        raise BadReferenceError(f"{path}: {w}x{h} is not the film's aspect ratio ({width}x"
                             f"{height}); paint the frame `filmcolor keyframes` wrote")
    if (w, h) != (width, height):
        import cv2

        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA
                         if w > width else cv2.INTER_LINEAR)
    ab = color.rgb_to_lab(rgb)[..., 1:].astype(np.float32)
    chroma = np.hypot(ab[..., 0], ab[..., 1])
    if float(chroma.max()) < GRAY_CHROMA:
        raise BadReferenceError(f"{path}: the reference is gray: it has no colour to give")
    # what was left gray is not painted: the model colours it (a soft edge, 1 ab unit wide)
    painted = np.clip(chroma - (GRAY_CHROMA - 1.0), 0.0, 1.0).astype(np.float32)
    return Reference(Path(path), frame, ab, painted)


class ReferenceTrack:
    """Carried chroma for every frame of the shots that have a reference: built by one
    decoding pass at render size, kept in a scratch file, read back in film order."""

    def __init__(self, src, folder, render_size, scratch_dir=None, exemplar=None):
        self._read(src, folder, render_size, exemplar)
        self._file = tempfile.NamedTemporaryFile(prefix=".filmcolor-refs-", suffix=".bin",
                                                 dir=scratch_dir, delete=False)
        self._offsets = {}  # frame index -> (byte offset, h, w) in the scratch file
        self._by_pts = {}  # pts -> frame index; None if two frames share a pts
        self._shots = []  # (first, end) frame indices of the shots with a reference
        self._time_base = None  # of the video stream, for excerpts (excerpt())
        self._shift = 0  # ticks an excerpt's pts were moved back by
        self.frames = 0  # frames of the film
        self.reached = 0  # frames that got carried colour
        self.max_held = 0  # the most frames held at once (at most 2 * REACH + 1 per ref)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _read(self, src, folder, render_size, exemplar, lazy=False):
        self.src, self.render_size, self.exemplar = Path(src), render_size, exemplar
        self.folder = Path(folder)
        paths = self._paths = find_references(folder)
        kept = find_exemplar(folder)
        if kept is not None:
            if exemplar is not None:
                raise BadReferenceError(f"{exemplar.path}: give one exemplar photo (also "
                                        f"{kept} with the painted frames)")
            from .exemplar import Exemplar

            self.exemplar = Exemplar(kept, render_size)
        with VideoReader(src, copy=False) as reader:
            width, height = reader.width, reader.height
        if lazy:  # a worker reads only the painted frames its segment writes
            self.references = _LazyReferences(paths, width, height)
        else:  # every file checked before any work starts
            self.references = {i: read_reference(p, i, width, height) for i, p in paths.items()}

    def save(self, folder):
        """Keep the carried chroma in `folder` (SAVED_TRACK and its .bin) for
        ReferenceTrack.load, so that workers colouring a film's segments share one carrying
        pass; close() then leaves it there."""
        folder = Path(folder)
        data = folder / f"{SAVED_TRACK}.bin"
        self._file.flush()
        os.replace(self._file.name, data)
        self._kept = True
        index = {"references": references_identity(self.folder),
                 "stamps": _stamps(self.folder),
                 "render_size": self.render_size,
                 "offsets": {str(k): v for k, v in self._offsets.items()},
                 "by_pts": None if self._by_pts is None else list(self._by_pts.items()),
                 "shots": self._shots, "time_base": str(self._time_base),
                 "frames": self.frames, "reached": self.reached, "max_held": self.max_held}
        from .image import write_atomic

        write_atomic(folder / f"{SAVED_TRACK}.json", json.dumps(index).encode("utf-8"))

    @classmethod
    def load(cls, src, folder, render_size, saved):
        """The track ReferenceTrack.save left in the folder `saved`, for the painted frames
        in `folder`; BadReferenceError if they changed since."""
        from fractions import Fraction

        self = cls.__new__(cls)
        self._file, self._kept = None, True
        self._read(src, folder, render_size, None, lazy=True)
        saved = Path(saved)
        try:
            index = json.loads((saved / f"{SAVED_TRACK}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as ex:
            raise BadReferenceError(f"{saved}: the carried colour of {self.folder} cannot be "
                                    f"read ({ex.__class__.__name__}); run again") from None
        # a folder repainted meanwhile? The files' sizes and times say it is not without
        # reading them; only where they differ (touched, copied back) are hashes compared
        unchanged = (index.get("stamps") == _stamps(self.folder)
                     or index["references"] == references_identity(self.folder))
        if not unchanged or index["render_size"] != render_size:
            raise BadReferenceError(f"{self.folder}: the painted frames changed while the "
                                    "film was being coloured; run again")
        self._offsets = {int(k): tuple(v) for k, v in index["offsets"].items()}
        self._by_pts = None if index["by_pts"] is None else dict(map(tuple, index["by_pts"]))
        self._shots = [tuple(s) for s in index["shots"]]
        self._time_base = Fraction(index["time_base"])
        self._shift = 0
        self.frames, self.reached = index["frames"], index["reached"]
        self.max_held = index["max_held"]
        self._file = open(saved / f"{SAVED_TRACK}.bin", "rb")  # noqa: SIM115 - close()
        return self

    def _build(self):
        """One pass: only the frames within propagate.REACH of a painted frame are held (a
        run), so memory grows with the painted frames, not with the shots' length."""
        from bisect import bisect_left

        painted = sorted(self.references)

        def near(i):
            k = bisect_left(painted, i - REACH)
            return k < len(painted) and painted[k] <= i + REACH

        run, run_start, shot_start = [], 0, 0
        with VideoReader(self.src, copy=False) as reader:
            self._time_base = reader.stream.time_base
            for index, frame, small, new_shot in frames_by_shot(reader, self.render_size):
                if new_shot and index:  # a run never crosses a cut
                    self._carry_run(run_start, run)
                    self._end_shot(shot_start, index)
                    run, shot_start = [], index
                if near(index):
                    if not run:
                        run_start = index
                    run.append(small)
                elif run:
                    self._carry_run(run_start, run)
                    run = []
                self.max_held = max(self.max_held, len(run))
                self.frames = index + 1
                if self._by_pts is not None:
                    if frame.pts is None or frame.pts in self._by_pts:
                        self._by_pts = None  # not unique: frames are counted instead
                    else:
                        self._by_pts[frame.pts] = index
        self._carry_run(run_start, run)
        self._end_shot(shot_start, self.frames)
        beyond = sorted(i for i in self.references if i >= self.frames)
        if beyond:
            ref = self.references[beyond[0]]
            raise BadReferenceError(f"{ref.path}: frame {ref.frame} is past the film's end "
                                 f"({self.frames} frames, 0 to {self.frames - 1})")
        self._file.flush()
        log.info("%s: %d reference%s reached %d of %d frames", self.src,
                 len(self.references), "" if len(self.references) == 1 else "s",
                 self.reached, self.frames)

    def _end_shot(self, start, end):
        if any(start <= i < end for i in self.references):
            self._shots.append((start, end))

    def _carry_run(self, start, lumas):
        """Carry the painted frames among `lumas` (frames start.. of one shot) through them."""
        refs = {i - start: self.references[i] for i in self.references
                if start <= i < start + len(lumas)}
        if not refs:
            return
        h, w = lumas[0].shape
        small = {k: (_resize(r.ab, w, h), _resize(r.painted, w, h)) for k, r in refs.items()}
        abs_, confs = propagate_shot(lumas, small)
        for k, (ab, conf) in enumerate(zip(abs_, confs)):
            if float(conf.max()) <= 0:
                continue
            record = np.dstack([ab, conf]).astype(np.float16)
            self._offsets[start + k] = (self._file.tell(), h, w)
            self._file.write(record.tobytes())
            self.reached += 1

    def excerpt(self, start):
        """Frames will come from an excerpt starting at `start` seconds, their pts moved
        back to 0 (VideoReader(start=...)): find them by their pts in the whole film."""
        from fractions import Fraction

        if self._by_pts is None:
            raise BadReferenceError(f"{self.src}: --start with --reference needs a film "
                                    "whose frames have unique timestamps")
        self._shift = round(Fraction(start).limit_denominator(10**6) / self._time_base)

    def index_of(self, frame, counted):
        """The film's index of a decoded frame: by its pts, or `counted` (the frames seen
        before it) where pts do not name frames."""
        if self._by_pts is None:
            return counted
        return self._by_pts.get(frame.pts + self._shift, -1 if self._shift else counted)

    def segment_key(self, segment):
        """[[name, sha256], ...] of the painted frames that can change a frame of
        `segment` (segments.Segment): every painted frame of every shot it touches ([] for
        none). Smoothing never crosses a cut, so its overlap frames add nothing."""
        if self._by_pts is None:
            raise ValueError("frames without unique pts cannot be cut into segments")
        inside = [i for pts, i in self._by_pts.items() if segment.holds(pts)]
        if not inside:
            return []
        lo, hi = min(inside), max(inside)
        touched = [(a, b) for a, b in self._shots if a <= hi and b > lo]
        key = [_identity(p) for i, p in sorted(self._paths.items())
               if any(a <= i < b for a, b in touched)]
        return key + ([_identity(self.exemplar.path)] if self.exemplar is not None else [])

    def carried(self, index, ab, luma):
        """The model's `ab` for frame `index` (render size, `luma` its luma there) with the
        carried chroma blended in where it reached; `ab` itself elsewhere (with the
        exemplar's colours, if one was given, under both). Called before temporal
        smoothing, so the smoother sees the colours that will be written."""
        if self.exemplar is not None:
            ab = self.exemplar.fuse(luma, ab)
        record = self._record(index)
        if record is None:
            return ab
        return blend(record[..., :2], record[..., 2], ab)

    def hints(self, index):
        """The carried colour of frame `index` as hints for a hint-taking model
        (hints.HintMap at render size: where it is confident, HINT_CONF), or None. The
        network fills the regions the strokes sit in; carried() then blends the carried
        colour over its answer, so a fully painted frame stays exactly as painted."""
        record = self._record(index)
        if record is None:
            return None
        from .hints import HintMap

        mask = (record[..., 2] >= HINT_CONF).astype(np.float32)
        return HintMap(np.where(mask[..., None] > 0, record[..., :2], 0.0), mask)

    def _record(self, index):
        """(ab, conf) H x W x 3 carried to frame `index` at render size, or None. The last
        one read is kept: a hint-taking model asks for a frame's hints, then carried()
        for the same frame."""
        last = getattr(self, "_last", None)
        if last is not None and last[0] == index:
            return last[1]
        at = self._offsets.get(index)
        if at is None:
            return None
        offset, h, w = at
        self._file.seek(offset)
        record = np.frombuffer(self._file.read(h * w * 3 * 2), np.float16)
        record = record.reshape(h, w, 3).astype(np.float32)
        self._last = (index, record)
        return record

    def painted(self, index, frame, ab):
        """(ab, luma) at full size for a reference frame: exactly its painted chroma where
        it was painted, the model's `ab` (render size, scaled up) where it was left gray;
        None for any other frame."""
        ref = self.references.get(index)
        if ref is None:
            return None
        h, w = ref.painted.shape
        model = _resize(np.asarray(ab, np.float32), w, h)
        return blend(ref.ab, ref.painted, model), frame.to_float()

    def summary(self):
        """What the report says: {"files", "reached"[, "exemplar"]}."""
        out = {"files": len(self.references), "reached": self.reached}
        if self.exemplar is not None:
            out["exemplar"] = self.exemplar.path.name
        return out

    def close(self):
        f, self._file = getattr(self, "_file", None), None
        if f is not None:
            f.close()
            if getattr(self, "_kept", False):
                return  # saved for other processes (save()); the work folder's to remove
            try:
                os.unlink(f.name)
            except OSError:
                pass


class _LazyReferences(dict):
    """{frame index: Reference} whose painted files are read when first asked for."""

    def __init__(self, paths, width, height):
        super().__init__((i, None) for i in paths)
        self._paths, self._size = paths, (width, height)

    def __getitem__(self, index):
        ref = super().__getitem__(index)
        if ref is None:
            ref = read_reference(self._paths[index], index, *self._size)
            super().__setitem__(index, ref)
        return ref

    def get(self, index, default=None):
        return self[index] if index in self else default

    def items(self):
        return [(i, self[i]) for i in self]

    def values(self):
        return [self[i] for i in self]


class ExemplarTrack:
    """`--reference photo.jpg` on a film without painted frames: the exemplar's colours
    guide the model in every frame (exemplar.py); the track interface of ReferenceTrack."""

    references = {}
    reached = 0

    def __init__(self, exemplar):
        self.exemplar = exemplar

    def index_of(self, frame, counted):
        return counted

    def segment_key(self, segment):
        return [_identity(self.exemplar.path)]

    def carried(self, index, ab, luma):
        return self.exemplar.fuse(luma, ab)

    def hints(self, index):
        return None

    def painted(self, index, frame, ab):
        return None

    def summary(self):
        return {"files": 0, "reached": 0, "exemplar": self.exemplar.path.name}

    def close(self):
        pass


def _resize(img, w, h):
    import cv2

    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, *img.shape[2:])
