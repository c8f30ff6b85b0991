"""The library's one entry point: `colorize(src, dst, options)` chooses photo, folder,
film, segmented film or preview from the input, as the CLI and the batch's tasks do (both
call it), so a library user gets what the command line gets: checks before the model
loads, and a long film that a rerun resumes.
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .options import (DEFAULT_FILM_RENDER_SIZE, DEFAULT_RENDER_SIZE, DEFAULT_SATURATION,
                      SEGMENT_SECONDS, ColorizeOptions)

log = logging.getLogger("filmcolor")


@dataclass
class Outcome:
    kind: str  # "film" or "photos"
    count: int  # frames (film) or images (photos) written
    output: Path  # the film written, or the photo / folder given as output
    seconds: float
    references: dict | None = None  # a film with painted frames: {"files", "reached"}


def is_video(path):
    """A video by extension, or a file with no image extension that PyAV opens with a
    video stream."""
    from .image import is_image_path
    from .video import has_video_stream, is_video_path

    path = Path(path)
    if is_video_path(path):
        return True
    return path.is_file() and not is_image_path(path) and has_video_stream(path)


def _still_from_animation(src, dst):
    """A GIF (which PyAV opens as a film) given a still image's name as output: the user
    wants a picture, so it is read as one (its first frame, with a warning)."""
    from .image import is_image_path, is_still_input_path

    return is_still_input_path(src) and not is_image_path(src) and is_image_path(dst)


def weights_path(options, film=False, hints=False):
    """The weights file `options` names: its `weights`, else its shipped `model`'s, else
    the default model of the medium (`film` or photos; with `hints`, photo hints or a
    film's painted frames, the hint model: it fills the regions strokes sit in)."""
    from .models import DEFAULT_HINTS_MODEL, shipped_weights

    if options.model and options.weights:
        raise UsageError("give a shipped model or a weights file, not both")
    if options.weights:
        return Path(options.weights)
    if hints and not options.model:
        return shipped_weights(DEFAULT_HINTS_MODEL)
    return shipped_weights(options.model, film=film)


def load_colorizer(weights, render_size, batch_size, saturation=DEFAULT_SATURATION):
    from .engine import Colorizer, describe_device
    from .models import load_model

    model = load_model(weights)
    log.info("model %s on %s", Path(weights).name, describe_device())
    return Colorizer(model, render_size=render_size, batch_size=batch_size,
                     saturation=saturation)


def colorize(src, dst, options=None, *, colorizer=None, progress=False):
    """Colorize `src` (a film, a photo or a folder of photos, mirrored) into `dst` with
    `options` (options.ColorizeOptions; None: every default); returns an Outcome.

    A bad path, format or film fails with a FilmcolorError before any model loads. A film
    longer than one segment is made in segments beside `dst`, so the same call resumes
    after a crash (segments.colorize_film); a preview is one pass. `colorizer`, an
    engine.Colorizer already loaded from the options' weights, is reused instead of
    loading them again (its render size and saturation then win). A second run on the
    same output is refused at once (locks.OutputLockedError) while the first holds it."""
    options = options or ColorizeOptions()
    src, dst = Path(src), Path(dst)
    t0 = time.perf_counter()
    film = is_video(src) and not _still_from_animation(src, dst)
    weights = weights_path(options, film=film,
                           hints=options.hints is not None or (film and _painted(options)))
    if film:
        if options.hints is not None:
            raise UsageError(f"{src}: --hints applies to photos; a film takes painted "
                             "keyframes, in full or in strokes, with --reference")
        result = _film(src, dst, options, weights, colorizer, progress)
        return Outcome("film", result.frames, result.output, time.perf_counter() - t0,
                       result.references)
    given = options.film_only()
    if given:
        raise UsageError(f"{src}: {', '.join(given)} only appl{'y' if len(given) > 1 else 'ies'} "
                         "to video input")
    from .locks import output_lock
    from .stills import colorize_image, plan

    plan(src, dst, options.overwrite)  # fail on a bad command before the model loads
    render = colorizer.render_size if colorizer else (options.render_size
                                                      or DEFAULT_RENDER_SIZE)
    exemplar = _exemplar(options, render)
    hints = _hints(src, options, weights)
    with output_lock(dst):
        plan(src, dst, options.overwrite)  # again: a run that finished meanwhile wrote it
        colorizer = colorizer or load_colorizer(weights, render, options.batch_size,
                                                options.saturation)
        n = colorize_image(src, dst, colorizer, overwrite=options.overwrite,
                           progress=progress, exemplar=exemplar,
                           max_pixels=options.max_pixels, hints=hints)
    return Outcome("photos", n, dst, time.perf_counter() - t0)


def _film(src, dst, options, weights, colorizer, progress):
    from .films import plan_video
    from .image import is_image_path
    from .locks import output_lock
    from .video import inspect

    if options.preview and options.segment_seconds is not None:
        raise UsageError(f"{src}: --segment-seconds does not apply to --start, --duration "
                         "or --compare")
    if is_image_path(dst):  # a picture named like a film says so, not "not a container"
        inspect(src)
    dst = plan_video(src, dst, options.overwrite, options.film.codec)
    inspect(src)  # a bad film fails here, before the model loads; the reader reuses it
    with output_lock(dst):  # the output and its work folder: one run at a time
        # again under the lock: a run that finished meanwhile has made the output
        plan_video(src, dst, options.overwrite, options.film.codec)
        return _locked_film(src, dst, options, weights, colorizer, progress)


def _locked_film(src, dst, options, weights, colorizer, progress):
    from .films import colorize_video

    if (options.reference or options.exemplar) is not None:  # checked before the model
        return _referenced_film(src, dst, options, weights, colorizer, progress)
    colorizer = colorizer or load_colorizer(
        weights, options.render_size or DEFAULT_FILM_RENDER_SIZE, options.batch_size,
        options.saturation)
    film = dict(overwrite=options.overwrite, progress=progress, **options.film.kwargs())
    seconds = SEGMENT_SECONDS if options.segment_seconds is None else options.segment_seconds
    if options.preview or not seconds:  # excerpts, side by side, or asked for: one pass
        return colorize_video(src, dst, colorizer, start=options.start,
                              duration=options.duration, compare=options.compare, **film)
    from .models import weights_identity
    from .segments import colorize_film

    return colorize_film(src, dst, colorizer, {"weights": weights_identity(weights)},
                         seconds, **film)


def _referenced_film(src, dst, options, weights, colorizer, progress):
    """Painted frames carried through their shots; a long film in segments, as without
    references, redoing on a rerun only the segments whose painted frames changed."""
    from .references import ExemplarTrack, ReferenceTrack, find_exemplar, find_references

    render = colorizer.render_size if colorizer else (options.render_size
                                                      or DEFAULT_FILM_RENDER_SIZE)
    exemplar = _exemplar(options, render)
    folder = options.reference
    if folder is not None and exemplar is None and not find_references(folder, quiet=True):
        from .exemplar import Exemplar  # an exemplar alone: no pass to find shots

        exemplar, folder = Exemplar(find_exemplar(folder), render), None
    if folder is None:
        track = ExemplarTrack(exemplar)
    else:
        track = ReferenceTrack(src, folder, render, scratch_dir=dst.parent,
                               exemplar=exemplar)
    try:
        colorizer = colorizer or load_colorizer(weights, render, options.batch_size,
                                                options.saturation)
        film = dict(overwrite=options.overwrite, progress=progress, track=track,
                    **options.film.kwargs())
        seconds = (SEGMENT_SECONDS if options.segment_seconds is None
                   else options.segment_seconds)
        if options.preview:  # an excerpt or side by side: one pass, not resumed
            from .films import colorize_video

            if options.start and isinstance(track, ReferenceTrack):
                track.excerpt(options.start)
            result = colorize_video(src, dst, colorizer, start=options.start,
                                    duration=options.duration, compare=options.compare,
                                    **film)
        elif seconds:
            from .models import weights_identity
            from .segments import colorize_film

            result = colorize_film(src, dst, colorizer, {"weights": weights_identity(weights)},
                                   seconds, **film)
        else:
            from .films import colorize_video

            result = colorize_video(src, dst, colorizer, **film)
        result.references = track.summary()
        return result
    finally:
        track.close()


def _painted(options):
    """Whether the options give a film painted frames (a reference folder holding any)."""
    if options.reference is None:
        return False
    from .references import find_references

    return bool(find_references(options.reference, quiet=True))


def _hints(src, options, weights):
    """The photo's hints (hints.HintMap), read and checked before any model loads, or
    None; the model must be one that takes hints."""
    if options.hints is None:
        return None
    from .hints.files import read_hints
    from .models import DEFAULT_HINTS_MODEL, check_weights, takes_hints_name
    from .stills import load_gray

    if Path(src).is_dir():
        raise UsageError(f"{src}: --hints gives one photo's hints; for a folder, put each "
                         "photo's in NAME.refs/hints.png beside it and use `filmcolor batch`")
    if not takes_hints_name(check_weights(weights)):
        raise UsageError(f"{weights.name}: this model takes no hints; use --model "
                         f"{DEFAULT_HINTS_MODEL} (the default with --hints)")
    gray, _ = load_gray(src, options.max_pixels)
    return read_hints(options.hints, gray)


def _exemplar(options, render):
    """The options' exemplar photo, read and sampled (before any model loads), or None."""
    if options.exemplar is None:
        return None
    from .exemplar import Exemplar

    return Exemplar(options.exemplar, render)
