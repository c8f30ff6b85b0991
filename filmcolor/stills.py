"""Colorize still images: one file or a folder (recursive, structure mirrored).

Checks every path before the model loads, so a bad command fails in a second; then reads,
colorizes and writes in batches of the engine's batch size. One unreadable image never
stops the rest: failures are collected and raised together at the end.
"""

import logging
from pathlib import Path

import numpy as np

from . import color
from .errors import (
    ImageReadError,
    InputNotFoundError,
    NoImagesError,
    OutputExistsError,
    OutputWriteError,
    PartialFailure,
    SameFileError,
    UsageError,
)
from .image import (IMAGE_EXTENSIONS, find_images, is_image_path, is_still_input_path,
                    read_image, write_image)
from .paths import check_writable, same_file
from .progress import progress_bar

log = logging.getLogger("filmcolor")

COLOUR_TOLERANCE = 2.0 / 255.0  # channel spread above this means the input is not gray


def plan(src, dst, overwrite=False):
    """(input, output) pairs for a file or a folder; raises a UsageError for a bad command."""
    src, dst = Path(src), Path(dst)
    if not src.exists():
        raise InputNotFoundError(f"{src}: no such file or folder")
    if same_file(src, dst):
        raise SameFileError(f"{dst}: output is the input; choose another output path")
    if src.is_dir():
        inputs = find_images(src)
        if not inputs:
            raise NoImagesError(f"{src}: no images found (looked for "
                                f"{', '.join(sorted(IMAGE_EXTENSIONS))})")
        if dst.exists() and not dst.is_dir():
            raise UsageError(f"{dst}: input is a folder, so the output must be a folder")
        if src.resolve() in dst.resolve().parents:
            raise UsageError(f"{dst}: output folder is inside the input folder")
        if dst.resolve() in src.resolve().parents:  # outputs could land on other originals
            raise UsageError(f"{dst}: output folder contains the input folder")
        pairs = [(p, dst / p.relative_to(src)) for p in inputs]
    else:
        if not is_still_input_path(src):
            raise UsageError(f"{src}: not an image file name ({src.suffix or 'no extension'})")
        if dst.is_dir():
            dst = dst / src.with_suffix(".png").name
            if same_file(src, dst):
                raise SameFileError(f"{dst}: output is the input; "
                                    "choose another output path")
        if not is_image_path(dst):
            raise UsageError(f"{dst}: unknown output image format "
                             f"({dst.suffix or 'no extension'}); use .png, .jpg, .tif, ...")
        pairs = [(src, dst)]
    if not overwrite:
        existing = [d for _, d in pairs if d.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(f"{existing[0]}: output already exists{more}; "
                                    "use --overwrite to replace it")
    check_writable({d.parent for _, d in pairs})
    return pairs


def load_gray(path, max_pixels=None):
    """Read an image as luma; a colour input is converted with a warning. `max_pixels`:
    image.read_image's limit (None: its default)."""
    rgb, dtype = read_image(path, max_pixels)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    if float(spread.max()) > COLOUR_TOLERANCE:
        log.warning("%s: colour image; converted to gray before colorizing", path)
    return color.luma(rgb), dtype


def colorize_pairs(pairs, colorizer, progress=False, log_failures=True, prior=None,
                   max_pixels=None, hints=None):
    """Colorize each (input, output) pair; returns the number written. `prior` goes to
    Colorizer.colorize (an exemplar's colours); `max_pixels` to image.read_image; `hints`
    maps an input to its hints.HintMap.

    Raises PartialFailure at the end if any item failed (the rest are written); its
    `failures` maps each failed input to its exception.
    """
    with progress_bar(progress, len(pairs), "colorize", unit="images") as bar:
        failures, done = _colorize_chunks(pairs, colorizer, bar, log_failures, prior,
                                          max_pixels, hints or {})
    if failures:
        raise PartialFailure(failures, len(pairs))
    return done


def _colorize_chunks(pairs, colorizer, bar, log_failures, prior, max_pixels, hints):
    failures = {}
    done = 0
    for start in range(0, len(pairs), colorizer.batch_size):
        chunk = pairs[start:start + colorizer.batch_size]
        loaded = []
        for src, dst in chunk:
            try:
                gray, dtype = load_gray(src, max_pixels)
                loaded.append((src, dst, gray, dtype))
            except (ImageReadError, InputNotFoundError) as ex:
                failures[str(src)] = ex
                if log_failures:
                    log.error("%s", ex)
        if loaded:
            grays = [g for _, _, g, _ in loaded]
            given = [hints.get(src) for src, _, _, _ in loaded]
            outputs = (colorizer.colorize(grays, prior, hints=given) if any(given)
                       else colorizer.colorize(grays, prior))
            for (src, dst, _, dtype), rgb in zip(loaded, outputs):
                try:
                    write_image(dst, rgb, dtype)
                    done += 1
                    log.debug("%s -> %s", src, dst)
                except OutputWriteError as ex:
                    failures[str(src)] = ex
                    if log_failures:
                        log.error("%s", ex)
        if bar is not None:
            bar.update(len(chunk))
    return failures, done


def colorize_image(src, dst, colorizer, overwrite=False, progress=False, exemplar=None,
                   max_pixels=None, hints=None):
    """Colorize one photo (or a folder, mirrored) from `src` into `dst`; `exemplar`
    (exemplar.Exemplar) guides every picture's colours; an image whose header declares
    more than `max_pixels` (None: image.pixel_limit()) fails before it is decoded; `hints`
    (hints.HintMap) is one photo's colour hints."""
    pairs = plan(src, dst, overwrite)
    if hints is not None:
        if len(pairs) != 1:
            raise UsageError(f"{src}: hints are one photo's; this is {len(pairs)}")
        hints = {pairs[0][0]: hints}
    prior = exemplar.fuse if exemplar is not None else None
    try:
        many = len(pairs) > 1
        return colorize_pairs(pairs, colorizer, progress=progress and many, log_failures=many,
                              prior=prior, max_pixels=max_pixels, hints=hints)
    except PartialFailure as ex:
        if len(pairs) == 1:  # one file: its own error, not "1 of 1 failed"
            raise next(iter(ex.failures.values())) from None
        raise


def colorize_array(gray, colorizer, hints=None):
    """Luma H x W in [0, 1] (or uint8) -> float RGB H x W x 3; for notebooks. `hints`: a
    hints.HintMap (hints.files.read_hints reads one), for a model that takes them."""
    gray = color.to_float(np.asarray(gray))
    return colorizer.colorize([gray], hints=[hints])[0]
