"""Several trained colorizers as one model: the mean of their ab codes, each also run on
the mirrored picture (its prediction mirrored back). Saved as a .json manifest naming the
member files (files.load_model builds it; the shipped `ensemble`) or as one .keras file.

Each network alone is sure of colours it has only half learned from a few hundred
photos, and networks trained differently are wrong in different places (the U-Net from
texture, the encoder models from what things are): the mean keeps what they agree on and
pulls the rest towards gray. On the validation photos the shipped mean of four is 1.79
dB above gray, its members alone 1.07-1.31 (weights/README.md, "The photo ensemble").

Same I/O convention as every network here (L / 100 in, sigmoid ab code out); the codes
are linear in ab, so their mean is the mean ab. The members are nested whole, with their
weights; the file loads in safe mode like the others (Mirror is a registered layer, not a
Lambda).
"""

import json

from .backend import import_keras

NAME = "filmcolor_ensemble"
MANIFEST_SUFFIX = ".json"  # a manifest naming member files, instead of one .keras file
MANIFEST_FORMAT = "filmcolor-ensemble-1"
DOWNSAMPLE = 32  # a multiple of every member's stride (8, 16, 32)
GRAY_CODE = 128.0 / 255.0  # the code of ab = 0 (color.ab_to_target)
_LAYERS = {}


def mirror_layer():
    """The Mirror layer class (left-right flip of N x H x W x C), registered with Keras on
    first use so that saved ensembles deserialize in safe mode."""
    _register()
    return _LAYERS["Mirror"]


def gain_layer():
    """The ChromaGain layer class: ab times a fixed factor, on the ab code (clipped to the
    sigmoid's range). The mean of models that disagree is paler than each of them."""
    _register()
    return _LAYERS["ChromaGain"]


def _register():
    if _LAYERS:
        return
    keras = import_keras()

    @keras.saving.register_keras_serializable(package="filmcolor")
    class Mirror(keras.layers.Layer):
        def call(self, x):
            return keras.ops.flip(x, axis=2)

        def compute_output_shape(self, input_shape):
            return input_shape

    @keras.saving.register_keras_serializable(package="filmcolor")
    class ChromaGain(keras.layers.Layer):
        def __init__(self, gain=1.0, **kwargs):
            super().__init__(**kwargs)
            self.gain = float(gain)

        def call(self, code):
            return keras.ops.clip(GRAY_CODE + self.gain * (code - GRAY_CODE), 0.0, 1.0)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "gain": self.gain}

    _LAYERS.update(Mirror=Mirror, ChromaGain=ChromaGain)


def build(members, mirror=True, gain=1.0):
    """The ensemble of `members` (loaded colorization models); with `mirror`, each also sees
    the mirrored input; the mean ab is multiplied by `gain`. Members of one architecture
    (one Keras name) are renamed NAME_2, NAME_3, ...: a model's layers need distinct
    names."""
    keras = import_keras()
    if not members:
        raise ValueError("an ensemble needs one or more models")
    Mirror = mirror_layer()
    inputs = keras.Input(shape=(None, None, 1), name="L")
    codes, seen = [], {}
    for m in members:
        seen[m.name] = seen.get(m.name, 0) + 1
        if seen[m.name] > 1:
            m = _renamed(m, f"{m.name}_{seen[m.name]}")
        codes.append(m(inputs))
        if mirror:
            codes.append(Mirror(name=f"{m.name}_unmirror")(
                m(Mirror(name=f"{m.name}_mirror")(inputs))))
    code = codes[0] if len(codes) == 1 else keras.layers.Average(name="ab_code")(codes)
    if gain != 1.0:
        code = gain_layer()(gain, name="chroma_gain")(code)
    return keras.Model(inputs, code, name=NAME)


def _renamed(model, name):
    """A copy of a functional `model` under another name, with its weights."""
    copy = model.__class__.from_config({**model.get_config(), "name": name})
    copy.set_weights(model.get_weights())
    return copy


def assemble(paths, out, mirror=True, gain=1.0):
    """The ensemble of the model files `paths`, written to `out` (a temporary name, then
    renamed): a .json manifest naming the member files (load_model builds the ensemble
    from them, so a shipped member's weights are not stored twice), or a .keras file
    holding them all. Returns the model."""
    import os
    from pathlib import Path

    from .files import load_model

    out = Path(out)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    if out.suffix.lower() == MANIFEST_SUFFIX:
        members = [os.path.relpath(Path(p).resolve(), out.resolve().parent).replace(os.sep, "/")
                   for p in paths]
        tmp.write_text(json.dumps({"format": MANIFEST_FORMAT, "members": members,
                                   "mirror": mirror, "gain": gain}, indent=1) + "\n")
        os.replace(tmp, out)
        return load_model(out)
    model = build([load_model(p) for p in paths], mirror=mirror, gain=gain)
    model.save(tmp)
    os.replace(tmp, out)
    return model


def read_manifest(path):
    """An ensemble manifest's member files (relative paths are beside it), mirror and gain;
    ValueError (one line) for anything else."""
    from pathlib import Path

    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as ex:
        raise ValueError(f"not an ensemble manifest ({ex})") from None
    if not (isinstance(spec, dict) and spec.get("format") == MANIFEST_FORMAT):
        raise ValueError(f"not an ensemble manifest (no \"format\": \"{MANIFEST_FORMAT}\")")
    members, mirror, gain = spec.get("members"), spec.get("mirror", True), spec.get("gain", 1)
    if not (isinstance(members, list) and members and all(isinstance(m, str) for m in members)):
        raise ValueError("its \"members\" must be a non-empty list of model files")
    if not isinstance(mirror, bool) or isinstance(gain, bool) or not isinstance(
            gain, (int, float)) or not gain >= 0:
        raise ValueError("its \"mirror\" must be true or false and its \"gain\" a number "
                         ">= 0")
    return [Path(path).parent / m for m in members], mirror, float(gain)
