"""The model registry and the paper's CNN (Revathi et al., Fig. 2).

Models are named (`MODELS`): each name is an architecture and its shipped weights file.
A saved file says which architecture it is by its Keras model name, so load_model needs no
flag; unet.py builds the project's larger network, this module builds the paper's.

Input: L / 100, N x H x W x 1 with H and W multiples of 8. Output: sigmoid ab code,
N x H x W x 2 (see color.py). Three stride-2 convolutions down, three 2x upsamplings up:
31,618 parameters. The paper's reshape/resize Lambda layers are replaced by padding to a
multiple of 8 outside the model, so the saved file has no Lambda and loads in safe mode
on every Keras backend.
"""

import contextlib
import hashlib
import logging
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import BackendError, WeightsError

log = logging.getLogger("filmcolor")

DOWNSAMPLE = 8  # the paper's network: three stride-2 convolutions
PARAMS = 31_618
PAPER_NAME = "revathi2023"  # the Fig. 2 network's Keras model name


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what --model takes
    file: str  # under weights/
    about: str


# Shipped weights by name; weights/README.md is the model card of each file.
MODELS = {
    "unet": ModelSpec("unet", "unet.keras",
                      "the project's U-Net with global context, 1.5 M parameters"),
    "paper": ModelSpec("paper", "paper.keras",
                       "the paper's Fig. 2 network (31,618 parameters), kernel L2 1e-6"),
    "paper-recipe": ModelSpec("paper-recipe", "paper-recipe.keras",
                              "the paper's Fig. 2 network with its own recipe (L2 0.01)"),
}
DEFAULT_MODEL = "unet"  # chosen on the validation split (README, "Models")
# architecture (Keras model name) -> padding multiple; the I/O convention of both is
# L / 100 in, sigmoid ab code out
ARCHITECTURES = {PAPER_NAME: DOWNSAMPLE, "filmcolor_unet": 16}

# (filters, stride, dropout after) for the encoder, as in Fig. 2 and section IV.A.
_ENCODER = [(8, 2, True), (16, 1, False), (16, 2, True), (32, 1, False), (32, 2, True)]
_DECODER = [32, 16]


@contextlib.contextmanager
def quiet_stderr():
    """TensorFlow 2.21 writes C++ start-up chatter straight to fd 2, whatever
    TF_CPP_MIN_LOG_LEVEL says; silence it while Keras imports and loads."""
    if os.environ.get("FILMCOLOR_DEBUG") == "1":
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras():
    """Keras, imported on first use so `filmcolor --help` and the I/O stay fast."""
    if "keras" not in sys.modules:
        t0 = time.perf_counter()
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        try:
            with quiet_stderr():
                import keras  # noqa: F401
        except ImportError as ex:
            extra = {"jax": "filmcolor[jax]", "torch": "filmcolor[torch]"}.get(backend)
            hint = f"pip install '{extra}'" if extra else f"install {backend}"
            raise BackendError(f"KERAS_BACKEND={backend}: cannot import Keras on it "
                               f"({ex.name or ex}): {hint}") from ex
        # tf.function retracing notes are for TF developers, not for people colorizing
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        log.debug("start-up: Keras on %s imported in %.1f s", keras.backend.backend(),
                  time.perf_counter() - t0)
    return sys.modules["keras"]


def build_model(l2=0.01, dropout=0.2, seed=None):
    """Build the uncompiled Fig. 2 network. `l2` is the kernel L2 factor (paper: 0.01)."""
    keras = import_keras()
    layers, regularizers = keras.layers, keras.regularizers
    reg = regularizers.L2(l2) if l2 else None
    init = keras.initializers.GlorotUniform(seed=seed)

    def conv(filters, stride, name, activation="relu"):
        return layers.Conv2D(
            filters, 3, strides=stride, padding="same", activation=activation,
            kernel_regularizer=reg, kernel_initializer=init, name=name,
        )

    inputs = keras.Input(shape=(None, None, 1), name="input_1")
    x = inputs
    n_conv = n_drop = 0
    for filters, stride, drop in _ENCODER:
        x = conv(filters, stride, _name("conv2d", n_conv))(x)
        n_conv += 1
        if drop:
            x = layers.Dropout(dropout, seed=seed, name=_name("dropout", n_drop))(x)
            n_drop += 1
    for i, filters in enumerate(_DECODER):
        x = layers.UpSampling2D(2, name=_name("up_sampling2d", i))(x)
        x = conv(filters, 1, _name("conv2d", n_conv))(x)
        n_conv += 1
    x = layers.UpSampling2D(2, name=_name("up_sampling2d", len(_DECODER)))(x)
    outputs = conv(2, 1, _name("conv2d", n_conv), activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name=PAPER_NAME)


def _name(base, i):
    return base if i == 0 else f"{base}_{i}"


def model_spec(name):
    """The registry entry of `name`; WeightsError listing the names that exist."""
    if name not in MODELS:
        raise WeightsError(f"{name}: no such model (models: {', '.join(MODELS)})")
    return MODELS[name]


def weights_identity(path):
    """What names a weights file in a resume key: its name, size and a hash of its bytes
    (two runs of one architecture give files of the same size)."""
    data = Path(path).read_bytes()
    return {"name": Path(path).name, "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


def upgrade_settings(old, new):
    """`old` resume-key settings as if written today: keys written before weights were
    hashed name them by name and size only, and match when those agree (all such a key
    can tell), so work interrupted before an upgrade resumes after it."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return old
    was, now = old.get("weights"), new.get("weights")
    if (isinstance(was, dict) and isinstance(now, dict) and "sha256" not in was
            and "sha256" in now and set(was) == {"name", "size"}
            and was == {k: now[k] for k in ("name", "size")}):
        return {**old, "weights": now}
    return old


def shipped_weights(name=None):
    """Path of the shipped weights of model `name` (default: the default model, or
    $FILMCOLOR_WEIGHTS): the checkout's weights/, or the install's."""
    if name is None and os.environ.get("FILMCOLOR_WEIGHTS"):
        return Path(os.environ["FILMCOLOR_WEIGHTS"])
    name = model_spec(name or DEFAULT_MODEL).file
    candidates = [Path(__file__).resolve().parent.parent / "weights" / name,
                  Path(sys.prefix) / "share" / "filmcolor" / "weights" / name]
    return next((p for p in candidates if p.is_file()), candidates[0])


def _zero_initializers(config):
    """`config` with every initializer Zeros, in place."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key.endswith("_initializer") and isinstance(value, dict):
                config[key] = {"module": "keras.initializers", "class_name": "Zeros",
                               "config": {}, "registered_name": None}
            else:
                _zero_initializers(value)
    elif isinstance(config, list):
        for value in config:
            _zero_initializers(value)
    return config


def _deserialize(path, keras):
    """The saved model's layers in safe mode, uncompiled, every variable zero until
    load_weights fills it from the same file. Zeros because on JAX each seeded initializer
    is an XLA compile: 12-20 s to load the U-Net on 2 cores, against about 1 s so."""
    import json

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    config.pop("compile_config", None)  # as compile=False: nothing to train
    return keras.saving.deserialize_keras_object(_zero_initializers(config), safe_mode=True)


def load_model(path):
    """Load a saved .keras model in safe mode; raise WeightsError with one clear line."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: weights file is empty")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not a .keras model file (expected a zip archive)")
    keras = import_keras()
    try:
        with quiet_stderr():
            t0 = time.perf_counter()
            model = _deserialize(path, keras)
            model.load_weights(path)
    except Exception as ex:  # Keras raises many types for a bad file; all mean the same here
        reason = (str(ex).strip().splitlines() or [type(ex).__name__])[0].split(". ")[0]
        raise WeightsError(f"{path}: cannot load weights ({reason[:160]})") from ex
    log.debug("start-up: %s loaded in %.1f s", path.name, time.perf_counter() - t0)
    if model.input_shape[-1] != 1 or model.output_shape[-1] != 2:
        raise WeightsError(
            f"{path}: not a colorization model (input {model.input_shape}, "
            f"output {model.output_shape}; expected 1 channel in, 2 out)"
        )
    if model.name not in ARCHITECTURES:
        raise WeightsError(f"{path}: unknown architecture '{model.name}' (filmcolor runs "
                           f"{', '.join(ARCHITECTURES)})")
    return model


def downsample(model):
    """The multiple of which the model's input sides must be (its total stride)."""
    return ARCHITECTURES.get(getattr(model, "name", None), DOWNSAMPLE)
