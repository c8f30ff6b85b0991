"""Weights files: loading one in safe mode (the file names its architecture), and naming one
by its content in resume keys.
"""

import hashlib
import json
import logging
import time
import zipfile
import zlib
from pathlib import Path

from ..errors import WeightsError
from .backend import import_keras, quiet_stderr
from . import ensemble, names
from .encoder_unet import NAMES as ENCODER_UNETS
from .paper import DOWNSAMPLE, PAPER_NAME

log = logging.getLogger("filmcolor")

# architecture (Keras model name) -> padding multiple; the I/O convention of all is
# L / 100 in, sigmoid ab code out
ARCHITECTURES = {PAPER_NAME: DOWNSAMPLE, names.UNET: 16, names.UNET_HINTS: 16,
                 **ENCODER_UNETS,
                 ensemble.NAME: ensemble.DOWNSAMPLE}
IN_CHANNELS = (1, 7)  # L alone, or L and a hint map (unet.HINT_CHANNELS)


def weights_identity(path):
    """What names a weights file in a resume key: its name, size and a hash of its bytes
    (two runs of one architecture give files of the same size); for an ensemble manifest,
    of its bytes and its members'."""
    data = Path(path).read_bytes()
    size = len(data)
    if _is_manifest(path):
        for member in _manifest(path)[0]:
            ident = weights_identity(member)
            data += ident["sha256"].encode()
            size += ident["size"]
    return {"name": Path(path).name, "size": size,
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


def _deserialize(path, keras, name=None):
    """The saved model's layers in safe mode, uncompiled, every variable zero until
    load_weights fills it from the same file. Zeros because on JAX each seeded initializer
    is an XLA compile: 12-20 s to load the U-Net on 2 cores, against about 1 s so."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    config.pop("compile_config", None)  # as compile=False: nothing to train
    if name:
        config["config"]["name"] = name
    ensemble.mirror_layer()  # registered before an ensemble's config names it
    return keras.saving.deserialize_keras_object(_zero_initializers(config), safe_mode=True)


def check_weights(path):
    """The architecture `path` holds; WeightsError (one line) unless it is a whole .keras
    file of a known architecture (or a manifest of such files); reads the archive (every
    member's checksum) but imports no Keras, so a batch refuses a bad file before any
    work, whichever workers would load it."""
    path = _check_file(path)
    if _is_manifest(path):
        for member in _manifest(path)[0]:
            check_weights(member)
        return ensemble.NAME
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            if damaged is not None:
                raise WeightsError(f"{path}: damaged .keras file ({damaged} fails its "
                                   "checksum)")
            name = json.loads(archive.read("config.json")).get("config", {}).get("name")
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile,
            zlib.error) as ex:  # a damaged compressed member
        raise WeightsError(f"{path}: cannot load weights ({_first_line(ex)})") from ex
    if name not in ARCHITECTURES:
        raise WeightsError(f"{path}: unknown architecture '{name}' (filmcolor runs "
                           f"{', '.join(ARCHITECTURES)})")
    return name


def _check_file(path):
    """`path` as a Path if it is a non-empty zip archive; else WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path}: weights file is empty")
    if not _is_manifest(path) and not zipfile.is_zipfile(path):
        raise WeightsError(f"{path}: not a .keras model file (expected a zip archive)")
    return path


def _is_manifest(path):
    return Path(path).suffix.lower() == ensemble.MANIFEST_SUFFIX


def _manifest(path):
    """ensemble.read_manifest, its errors as WeightsError naming the file."""
    try:
        members, mirror, gain = ensemble.read_manifest(path)
    except (OSError, ValueError) as ex:
        raise WeightsError(f"{path}: {_first_line(ex)}") from ex
    for member in members:
        if _is_manifest(member):
            raise WeightsError(f"{path}: its members must be .keras files, not {member.name}")
    return members, mirror, gain


def _first_line(ex):
    return (str(ex).strip().splitlines() or [type(ex).__name__])[0].split(". ")[0][:160]


def load_model(path, name=None):
    """Load a saved .keras model in safe mode, or build the ensemble an ensemble manifest
    names; raise WeightsError with one clear line. `name`: load a .keras file under that
    name instead of its architecture's (an ensemble's second member of one architecture;
    the caller has checked the architecture)."""
    path = _check_file(path)
    t0 = time.perf_counter()
    if _is_manifest(path):
        model = _load_ensemble(path)
    else:
        keras = import_keras()
        try:
            with quiet_stderr():
                model = _deserialize(path, keras, name)
                model.load_weights(path)
        except Exception as ex:  # Keras raises many types for a bad file; all mean the same
            raise WeightsError(f"{path}: cannot load weights ({_first_line(ex)})") from ex
    log.debug("start-up: %s loaded in %.1f s", path.name, time.perf_counter() - t0)
    if model.input_shape[-1] not in IN_CHANNELS or model.output_shape[-1] != 2:
        raise WeightsError(
            f"{path}: not a colorization model (input {model.input_shape}, "
            f"output {model.output_shape}; expected 1 channel in (or L and a hint map), "
            f"2 out)"
        )
    if name is None and model.name not in ARCHITECTURES:  # renamed: checked by the caller
        raise WeightsError(f"{path}: unknown architecture '{model.name}' (filmcolor runs "
                           f"{', '.join(ARCHITECTURES)})")
    return model


def _load_ensemble(path):
    """The ensemble of a manifest's members, each loaded under a name of its own (two of
    one architecture would share their layers' names)."""
    members, mirror, gain = _manifest(path)
    models, seen = [], {}
    for member in members:
        name = check_weights(member)  # whole, and of a known architecture
        seen[name] = seen.get(name, 0) + 1
        models.append(load_model(member, name=f"{name}_{seen[name]}" if seen[name] > 1
                                 else None))
    return ensemble.build(models, mirror=mirror, gain=gain)


def downsample(model):
    """The multiple of which the model's input sides must be (its total stride)."""
    return ARCHITECTURES.get(getattr(model, "name", None), DOWNSAMPLE)
