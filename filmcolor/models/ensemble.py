"""Several trained colorizers in one model file: the mean of their ab codes, each also run
on the mirrored picture (its prediction mirrored back).

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

from .backend import import_keras

NAME = "filmcolor_ensemble"
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
    """Load the model files `paths`, build their ensemble and save it to `out` (a
    temporary name, then renamed). Returns the model."""
    import os
    from pathlib import Path

    from .files import load_model

    members = [load_model(p) for p in paths]
    model = build(members, mirror=mirror, gain=gain)
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    model.save(tmp)
    os.replace(tmp, out)
    return model
