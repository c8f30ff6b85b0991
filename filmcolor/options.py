"""Every user-facing default, written once; the CLI's defaults, the batch, its tasks and
the film functions all read them from here. Importing this module imports nothing heavy,
so `filmcolor --help` stays quick.
"""

from dataclasses import asdict, dataclass

# photos: measured on the validation split (README)
DEFAULT_RENDER_SIZE = 256
# films: on a 2-core CPU 128 px runs the pipeline 1.4x faster than 256 for -0.11 dB PSNR
# and -0.03 AuC points on Megamind.avi (README, "Film quality and flicker")
DEFAULT_FILM_RENDER_SIZE = 128
DEFAULT_BATCH_SIZE = 8
SEGMENT_SECONDS = 120  # a kill loses at most this much work
DEFAULT_STRENGTH = 1.0  # temporal smoothing: measured, see temporal.py's docstring
DEFAULT_RADIUS = 2


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
