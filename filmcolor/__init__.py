"""filmcolor: colorize black-and-white films and photographs with convolutional networks.

    import filmcolor
    model = filmcolor.load_model(filmcolor.shipped_weights())
    colorizer = filmcolor.Colorizer(model, render_size=256, batch_size=8)
    filmcolor.colorize_image("photo.jpg", "colored.png", colorizer)
    filmcolor.colorize_video("film.mp4", "colored.mp4", colorizer)

Keras (and so TensorFlow, JAX or PyTorch) is imported only when a model is first needed.
"""

from . import errors
from .errors import FilmcolorError

__version__ = "0.1.0"

_LAZY = {
    "load_model": "model",
    "build_model": "model",
    "shipped_weights": "model",
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
