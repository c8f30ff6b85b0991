"""Every user-facing default, written once; the CLI's defaults, the batch, its tasks and
the film functions all read them from here. Importing this module imports nothing heavy,
so `filmcolor --help` stays quick.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

# photos: measured on the validation split (README)
DEFAULT_RENDER_SIZE = 256
# films: on a 2-core CPU 128 px runs the pipeline 1.4x faster than 256 for -0.11 dB PSNR
# and -0.03 AuC points on Megamind.avi (README, "Film quality and flicker")
DEFAULT_FILM_RENDER_SIZE = 128
DEFAULT_BATCH_SIZE = 8
SEGMENT_SECONDS = 120  # a kill loses at most this much work
DEFAULT_STRENGTH = 1.0  # temporal smoothing: measured, see temporal.py's docstring
DEFAULT_RADIUS = 2
# the model's chroma is multiplied by this (painted frames are not); measured on validation
# in README, "Results": 0.5 leaves no picture more than 3 dB below gray, with less colour
DEFAULT_SATURATION = 1.0
# images whose header declares more pixels are refused before decoding (--max-pixels,
# FILMCOLOR_MAX_PIXELS): a 200 MP scan (e.g. 17000 x 11500) decodes to 0.6 GB as 8-bit RGB
# and 2.4 GB as the float RGB the pipeline holds, while a damaged or hostile header can
# claim 20000 x 20000 in a 300-byte file and cost 25 s before it fails
MAX_PIXELS = 200_000_000


@dataclass(frozen=True)
class FilmOptions:
    """How a film is encoded and smoothed: everything here changes the output's bytes, so
    all of it goes into the resume key."""

    codec: str | None = None  # None: from the output's extension (video.choose_codec)
    crf: int = 18
    preset: str = "medium"
    temporal: bool = True
    strength: float = DEFAULT_STRENGTH
    radius: int = DEFAULT_RADIUS

    @classmethod
    def given(cls, **values):
        """FilmOptions from CLI values, where None means the default."""
        return cls(**{k: v for k, v in values.items() if v is not None})

    def kwargs(self):
        """As keyword arguments of films.colorize_video and segments.colorize_film."""
        return asdict(self)


FILM_DEFAULTS = FilmOptions()


@dataclass(frozen=True)
class ColorizeOptions:
    """What `filmcolor.colorize` makes its output with, besides the two paths. The medium
    is the input's: `film`, `segment_seconds` and the preview fields (`start`, `duration`,
    `compare`) apply to films only and are refused for photos when not at their defaults."""

    model: str | None = None  # a shipped model's name (model.MODELS); None: the default
    weights: Path | None = None  # any .keras file instead of `model`
    render_size: int | None = None  # None: DEFAULT_RENDER_SIZE (photos), _FILM_ (films)
    batch_size: int = DEFAULT_BATCH_SIZE
    saturation: float = DEFAULT_SATURATION  # the model's chroma x this (not painted frames')
    overwrite: bool = False
    film: FilmOptions = field(default_factory=FilmOptions)
    segment_seconds: float | None = None  # None: SEGMENT_SECONDS; 0: one pass, no resume
    start: float | None = None  # preview: an excerpt from here (seconds) ...
    duration: float | None = None  # ... this long
    compare: bool = False  # preview: source and result side by side
    reference: Path | None = None  # films: a folder of painted frames (references.py)
    exemplar: Path | None = None  # a colour photo whose colours guide the model (exemplar.py)
    max_pixels: int | None = None  # photos: header limit; None: FILMCOLOR_MAX_PIXELS or MAX_PIXELS
    hints: Path | None = None  # one photo: colour given at a few places (hints/files.py)

    @property
    def preview(self):
        """An excerpt or a side-by-side: a one-pass run that is not resumed."""
        return self.start is not None or self.duration is not None or self.compare

    def film_only(self):
        """The film-only fields that are not at their defaults, by CLI option name."""
        given = {"--start": self.start is not None, "--duration": self.duration is not None,
                 "--compare": self.compare, "--segment-seconds": self.segment_seconds is not None,
                 "--reference": self.reference is not None}
        # (--hints is the other way round: photos only, refused for films by api.colorize)
        given.update({f"--{k}": v != getattr(FILM_DEFAULTS, k)
                      for k, v in asdict(self.film).items()})
        return [name for name, on in given.items() if on]
