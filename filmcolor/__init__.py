"""filmcolor: colorize black-and-white films and photographs with convolutional networks.

    import filmcolor
    from filmcolor.options import ColorizeOptions, FilmOptions
    filmcolor.colorize("film.mp4", "colored.mp4")   # resumes after a crash, as the CLI does
    filmcolor.colorize("album/", "colored/", ColorizeOptions(model="paper"))
    filmcolor.colorize("film.mp4", "c.mkv", ColorizeOptions(film=FilmOptions(codec="ffv1")))

Lower down, with a model loaded once:

    model = filmcolor.load_model(filmcolor.shipped_weights())  # photos'; film=True: films'
    colorizer = filmcolor.Colorizer(model, render_size=256, batch_size=8)
    filmcolor.colorize_image("photo.jpg", "colored.png", colorizer)
    filmcolor.colorize_video("film.mp4", "colored.mp4", colorizer)   # one pass

Keras (and so TensorFlow, JAX or PyTorch) is imported only when a model is first needed.
"""

from . import errors
from .errors import FilmcolorError

__version__ = "0.1.0"

_LAZY = {
    "colorize": "api",
    "ColorizeOptions": "options",
    "FilmOptions": "options",
    "load_model": "models",
    "build_model": "models",
    "shipped_weights": "models",
    "Colorizer": "engine",
    "colorize_image": "stills",
    "colorize_array": "stills",
    "colorize_video": "films",
}

__all__ = ["__version__", "errors", "FilmcolorError", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'filmcolor' has no attribute {name!r}")
