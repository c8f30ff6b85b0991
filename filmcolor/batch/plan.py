"""Planning a batch: inputs (files, folders, globs, manifests) expanded and checked into
Items, each with its output path under OUTDIR and its key in the state; BatchOptions."""

import glob
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputNotFoundError, NoImagesError, SameFileError, UsageError
from ..image import is_image_path
from ..options import (DEFAULT_BATCH_SIZE, DEFAULT_SATURATION, FILM_DEFAULTS, SEGMENT_SECONDS,
                       FilmOptions)
from ..paths import same_file
from ..video import is_video_path

log = logging.getLogger("filmcolor")

GLOB_CHARS = set("*?[")
MANIFEST_EXTENSIONS = {".txt", ".lst"}  # an input with this ending lists inputs, one a line
REFS_SUFFIX = ".refs"  # reel1.refs/ beside reel1.mp4 holds its painted frames


@dataclass
class BatchOptions:
    weights: Path = None  # a .keras file for every item; None: each medium's default model
    render_size: int = None  # None: DEFAULT_RENDER_SIZE for photos, ..._FILM_... for films
    batch_size: int = DEFAULT_BATCH_SIZE
    saturation: float = DEFAULT_SATURATION  # the model's chroma x this (not painted frames')
    film: FilmOptions = FILM_DEFAULTS  # how films are smoothed and encoded
    jobs: int = 1
    progress: bool = False
    scheduler: str = None  # a Dask scheduler address (tcp://host:port): run on that cluster
    gpus_per_job: float = 0  # Dask worker resource "GPU" each item needs
    scheduler_timeout: float = 30  # seconds to reach the scheduler
    worker_timeout: float = 120  # seconds with no Dask worker before the batch stops
    segment_seconds: float = SEGMENT_SECONDS  # films cut at keyframes this far apart; 0: never
    max_pixels: int = None  # photos: header pixel limit; None: image.pixel_limit()


@dataclass
class Item:
    src: Path
    dst: Path
    kind: str  # "image" or "video"
    key: str  # dst relative to OUTDIR, POSIX spelling: the state file's key
    refs: Path | None = None  # a film's NAME.refs/ folder, or a photo's exemplar file
    hints: Path | None = None  # a photo's NAME.refs/hints.png (or .json, .jpg, ...)

    @property
    def medium(self):
        """Which model colours it: "video", "image", or "hints" (a photo with hints, or a
        film with painted frames: the hint model fills the regions strokes sit in)."""
        if self.hints is not None or (self.kind == "video" and _has_painted_frames(self.refs)):
            return "hints"
        return self.kind


def plan_batch(inputs, outdir, codec=None):
    """Expand inputs into Items; raises a UsageError subclass for a bad command."""
    outdir = Path(outdir)
    if not inputs:
        raise UsageError("no inputs given")
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"{outdir}: output must be a folder")
    out_resolved = outdir.resolve()
    items, seen = [], {}
    for spec in inputs:
        for src in _expand(spec):
            if src.is_dir():
                src_resolved = src.resolve()
                if out_resolved == src_resolved or src_resolved in out_resolved.parents:
                    raise UsageError(f"{outdir}: output folder is inside the input folder "
                                     f"{src}; outputs would be read back as inputs")
                found = sorted(p for p in src.rglob("*")
                               if p.is_file() and (is_video_path(p) or is_image_path(p))
                               and not _in_refs(p.relative_to(src)))
                if not found:
                    log.warning("%s: no images or films found", src)
                base = outdir / (src_resolved.name or "root")
                pairs = [(p, base / p.relative_to(src)) for p in found]
            elif is_video_path(src) or is_image_path(src):
                pairs = [(src, outdir / src.name)]
            else:
                raise UsageError(f"{src}: not an image or film file name "
                                 f"({src.suffix or 'no extension'})")
            for s, d in pairs:
                kind = "video" if is_video_path(s) else "image"
                if same_file(s, d):
                    raise SameFileError(f"{d}: output is the input {s}; choose another OUTDIR")
                key = d.relative_to(outdir).as_posix()
                ident = os.path.normcase(key)
                if ident in seen:
                    if seen[ident].src.resolve() == s.resolve():
                        continue  # the same file named twice
                    raise UsageError(f"{seen[ident].src} and {s} would both be written to {d}")
                if kind == "video":
                    from ..video import check_output

                    check_output(d, codec)
                seen[ident] = Item(s, d, kind, key,
                                   _refs_of(s) if kind == "video" else _exemplar_of(s),
                                   None if kind == "video" else _hints_of(s))
                items.append(seen[ident])
    if not items:
        raise NoImagesError(f"no images or films found in {', '.join(map(str, inputs))}")
    return items


def _expand(spec):
    """A path as given, a manifest's paths, or a glob's matches (sorted); raises
    InputNotFoundError."""
    path = Path(spec)
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        return _read_manifest(path)
    if path.exists():
        return [path]
    if GLOB_CHARS & set(str(spec)):
        matches = sorted(glob.glob(str(spec), recursive=True))
        if not matches:
            raise InputNotFoundError(f"{spec}: no files match")
        return [Path(m) for m in matches]
    raise InputNotFoundError(f"{spec}: no such file or folder")


def _read_manifest(manifest):
    """One path a line (blank lines and '#' comments skipped), relative to the manifest's
    folder unless absolute; every line must name an existing file or folder."""
    paths = []
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as ex:
        raise UsageError(f"{manifest}: cannot read manifest ({ex})") from ex
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line) if Path(line).is_absolute() else manifest.parent / line
        if not path.exists():
            raise InputNotFoundError(f"{manifest}:{number}: {line}: no such file or folder")
        paths.append(path)
    return paths


def _refs_of(film):
    """A film's painted frames, if a folder NAME.refs sits beside it (reel1.mp4 ->
    reel1.refs/, as `filmcolor keyframes reel1.mp4 reel1.refs` writes it)."""
    folder = film.with_name(film.stem + REFS_SUFFIX)
    return folder if folder.is_dir() else None


def _exemplar_of(photo):
    """A photo's exemplar: exemplar.jpg (or .png, ...) in NAME.refs/ beside the photo, else
    in FOLDER.refs/ beside the folder holding it (album/ -> album.refs/), else None."""
    from ..references import find_exemplar

    for folder in (photo.with_name(photo.stem + REFS_SUFFIX),
                   photo.parent.with_name(photo.parent.name + REFS_SUFFIX)):
        if folder.is_dir():
            found = find_exemplar(folder)
            if found is not None:
                return found
    return None


def _hints_of(photo):
    """A photo's hints: hints.png (or .jpg, .tif, .json) in NAME.refs/ beside it, or None;
    two are refused."""
    folder = photo.with_name(photo.stem + REFS_SUFFIX)
    if not folder.is_dir():
        return None
    found = [p for p in sorted(folder.iterdir())
             if p.is_file() and p.stem.lower() == "hints"
             and (p.suffix.lower() == ".json" or is_image_path(p))]
    if len(found) > 1:
        raise UsageError(f"{found[1]}: give one hints file (also {found[0].name})")
    return found[0] if found else None


def _has_painted_frames(folder):
    """Whether a NAME.refs folder holds painted frames (frame-NNNNNN.png, ...), not only
    an exemplar photo."""
    from ..references import NAME

    return folder is not None and folder.is_dir() and any(
        NAME.match(p.name) for p in folder.iterdir())


def _in_refs(relative):
    """Inside a NAME.refs folder: painted frames, not photos to colorize."""
    return any(part.endswith(REFS_SUFFIX) for part in relative.parts[:-1])
