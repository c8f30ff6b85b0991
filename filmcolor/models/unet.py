"""The project's own network: a U-Net that predicts ab at half resolution, with a
global-context gate (Iizuka et al. 2016) so the whole picture can tell sky from wall.

Same I/O convention as the paper's network (paper.py): L / 100 in, N x H x W x 1 with H
and W multiples of DOWNSAMPLE; sigmoid ab code out, N x H x W x 2. Chroma is
low-frequency, so the decoder stops at H/2 and a bilinear 2x upsampling gives full size.
(Keras' own bilinear UpSampling2D cannot be retraced for a new input shape on TensorFlow,
so it is built from nearest upsampling and a frozen [1/4, 1/2, 1/4] filter.)

Two heads share the trunk (`build(head=...)`):
- "regress": a sigmoid 1x1 convolution gives the ab code directly (trained with MSE);
- "classify": logits over quantised ab bins (Zhang et al. 2016), decoded inside the model
  by an annealed mean: softmax(logits / T) times the bin centres, as a frozen 1x1
  convolution. The saved file is then an ordinary code-out model; training uses the
  logits (`training_model`).
Standard Keras layers only, so files load in safe mode on every backend.
"""

import numpy as np

from . import names
from .backend import import_keras

NAME = names.UNET  # the saved file's model name: how load_model knows the architecture
HINTS_NAME = names.UNET_HINTS  # the same taking a hint map beside the gray picture
# after L: hint a and b (ab / 255 where given, 0 elsewhere), the mask, and the hints'
# guided spread (hints/spread.py): its a / 255, b / 255 and confidence
HINT_CHANNELS = 6
GATE_BIAS = -1.0  # the spread's share starts at sigmoid(-1) = 27%: open enough to learn
DOWNSAMPLE = 16  # four stride-2 convolutions
WIDTHS = (24, 48, 96, 192)  # channels at H/2, H/4, H/8, H/16: 1.5 M parameters
ANNEAL_T = 0.38  # Zhang et al.'s annealed-mean temperature


def build(head="regress", bins=None, temperature=ANNEAL_T, l2=0.0, seed=None, hints=False):
    """The uncompiled U-Net. For head="classify", `bins` is a Q x 2 array of bin centres
    as ab codes in [0, 1]. Returns the inference model (code out).

    With `hints`, the input has HINT_CHANNELS more channels after L: a hint map (where a
    person gave colour, Zhang et al. 2017), seen by the first convolution and, averaged
    to each scale, by each decoder level, so a hint's colour can reach the region it sits
    in at every resolution. No hints is an all-zero map."""
    keras = import_keras()
    L = keras.layers
    reg = keras.regularizers.L2(l2) if l2 else None
    init = keras.initializers.HeNormal(seed=seed)

    def conv(x, filters, stride=1, name=None):
        x = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                     kernel_initializer=init, kernel_regularizer=reg, name=name)(x)
        x = L.BatchNormalization(name=f"{name}_bn")(x)
        return L.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=(None, None, 1 + HINT_CHANNELS * hints),
                         name="L_hints" if hints else "L")
    x = inputs
    skips = []
    for level, width in enumerate(WIDTHS):
        x = conv(x, width, 2, name=f"down{level}")
        x = conv(x, width, name=f"enc{level}")
        skips.append(x)
    # global context: image-level features gate the bottleneck's channels
    g = L.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    g = L.Dense(WIDTHS[-1], activation="relu", kernel_initializer=init, name="global_fc")(g)
    g = L.Dense(WIDTHS[-1], activation="sigmoid", name="global_gate")(g)
    x = L.Multiply(name="global_apply")([x, g])
    x = conv(x, WIDTHS[-1], name="bottleneck")
    for level in range(len(WIDTHS) - 2, -1, -1):
        x = L.UpSampling2D(2, name=f"up{level}")(x)
        parts = [x, skips[level]]
        if hints:  # the hint map at this level's scale (the mask's mean says how much)
            parts.append(L.AveragePooling2D(2 ** (level + 1), name=f"hints{level}")(inputs))
        x = L.Concatenate(name=f"skip{level}")(parts)
        x = conv(x, WIDTHS[level], name=f"dec{level}a")
        x = conv(x, WIDTHS[level], name=f"dec{level}b")
    if head == "regress":
        code = L.Conv2D(2, 1, activation="sigmoid", name="ab_code_half")(x)
    elif head == "classify":
        bins = np.asarray(bins, np.float32)
        logits = L.Conv2D(len(bins), 1, name="ab_logits")(x)
        p = L.Rescaling(1.0 / temperature, name="anneal")(logits)
        p = L.Softmax(name="ab_probs")(p)
        decode = L.Conv2D(2, 1, use_bias=False, trainable=False, name="annealed_mean")
        code = decode(p)
        decode.set_weights([bins.reshape(1, 1, len(bins), 2)])
    else:
        raise ValueError(f"unknown head {head!r} (regress, classify)")
    outputs = _bilinear_2x(L, code, name="ab_code")
    if hints:
        outputs = _gated_spread(L, keras, inputs, x, outputs)
    return keras.Model(inputs, outputs, name=HINTS_NAME if hints else NAME)


def _gated_spread(L, keras, inputs, features, net_code):
    """The hints' guided spread (an input) where the network trusts it, its own colour
    elsewhere: a per-pixel gate from the last decoder features (starting at GATE_BIAS
    everywhere; training learns to shut it where no hint reaches)."""
    gate = L.Conv2D(2, 1, activation="sigmoid", kernel_initializer="zeros",
                    bias_initializer=keras.initializers.Constant(GATE_BIAS),
                    name="spread_gate_half")(features)
    gate = _bilinear_2x(L, gate, name="spread_gate", centre=0.0)
    select = L.Conv2D(2, 1, trainable=False, name="spread_code")  # the spread's ab as code
    spread = select(inputs)
    kernel = np.zeros((1, 1, 1 + HINT_CHANNELS, 2), np.float32)
    kernel[0, 0, 4, 0] = kernel[0, 0, 5, 1] = 1.0  # channels 4, 5: the spread's ab / 255
    select.set_weights([kernel, np.full(2, 128.0 / 255.0, np.float32)])
    keep = L.Rescaling(-1.0, offset=1.0, name="net_share")(gate)
    return L.Add(name="ab_code_hinted")([L.Multiply(name="spread_part")([gate, spread]),
                                         L.Multiply(name="net_part")([keep, net_code])])


def takes_hints(model):
    """Whether `model` reads a hint map beside L (its input has more than one channel)."""
    return model.input.shape[-1] > 1


def is_hint_model(model):
    """Whether `model` is today's hint-taking U-Net (hint inputs and the spread's gate)."""
    return takes_hints(model) and any(l.name == "spread_gate_half" for l in model.layers)


def with_hints(model, seed=None):
    """A hint-taking U-Net that computes what the regress-head `model` does while no hint
    is given: its weights, and zeros for every weight that reads the hint map (the new
    input channels of the first convolution and of each decoder level's first), so
    training with hints starts from the automatic model's own path (the spread's gate,
    which training learns, starts at GATE_BIAS). `model` may take hints already (a run
    before the gate existed): its weights are kept, and the gate added."""
    hinted = build(head_of(model), l2=0.0, seed=seed, hints=True)
    for layer in hinted.layers:
        try:
            old = model.get_layer(layer.name)
        except ValueError:  # the pooling of the hint map: no weights
            continue
        weights = []
        for new, was in zip(layer.get_weights(), old.get_weights()):
            if new.shape != was.shape:  # a kernel with the hint channels after the old ones
                grown = np.zeros_like(new)
                grown[:, :, :was.shape[2]] = was
                was = grown
            weights.append(was)
        layer.set_weights(weights)
    return hinted


def _bilinear_2x(L, code, name, centre=0.5):
    """Bilinear 2x upsampling of the ab code (half-pixel centres, exact inside): nearest
    2x, then a frozen separable [1/4, 1/2, 1/4] filter. It filters code - centre, so the
    zero padding at the border pulls the outermost row towards `centre`: gray for the
    code, never a colour (a gate passes centre 0: shut)."""
    x = L.Rescaling(1.0, offset=-centre, name=f"{name}_centre")(code)
    x = L.UpSampling2D(2, name=f"{name}_nearest")(x)
    smooth = L.DepthwiseConv2D(3, padding="same", use_bias=False, trainable=False,
                               name=f"{name}_bilinear")
    x = smooth(x)
    k = np.array([0.25, 0.5, 0.25], np.float32)
    smooth.set_weights([np.repeat(np.outer(k, k)[:, :, None, None], 2, axis=2)])
    return L.Rescaling(1.0, offset=centre, name=name)(x)


def training_model(model):
    """What the loss sees: the logits at H/2 (classify) or the code at full size (regress)."""
    keras = import_keras()
    names = {layer.name for layer in model.layers}
    if "ab_logits" in names:
        return keras.Model(model.input, model.get_layer("ab_logits").output)
    return model


def head_of(model):
    return "classify" if any(l.name == "ab_logits" for l in model.layers) else "regress"


def ab_bin_grid(step=10.0):
    """Every ab bin centre on a `step` grid, as ab (not code): (n*n) x 2."""
    centres = np.arange(-110.0, 110.0 + 1e-6, step, dtype=np.float32)
    a, b = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


def with_temperature(model, temperature):
    """A copy of a classify-head model whose annealed mean uses `temperature` (lower: more
    vivid, nearer the most likely colour; higher: nearer the plain mean)."""
    config = model.get_config()
    for layer in config["layers"]:
        if layer["config"].get("name") == "anneal":
            layer["config"]["scale"] = 1.0 / temperature
            break
    else:
        raise ValueError(f"{model.name} has no annealed-mean head")
    return _rebuilt(model, config)


def _rebuilt(model, config):
    """A new model from `config` holding `model`'s weights."""
    copy = import_keras().Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def temperature_of(model):
    return 1.0 / float(model.get_layer("anneal").scale)


def with_prior_correction(model, log_prior, strength):
    """A copy of a classify-head model whose logits have `strength` x the log prior of
    each bin taken off (`log_prior`: Q values, in the order of the bins): 0 leaves the
    model as trained, 1 divides out what the training colours made common. A decoding
    choice, like the temperature: class rebalancing (Zhang et al. 2016) after training,
    as a shift of the logits' bias, so the copy is an ordinary file."""
    copy = _rebuilt(model, model.get_config())
    layer = copy.get_layer("ab_logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias - strength * np.asarray(log_prior, bias.dtype)])
    return copy


def bin_centres(model):
    """Q x 2 ab codes of a classify-head model's bins (its frozen decoding weights)."""
    return model.get_layer("annealed_mean").get_weights()[0].reshape(-1, 2)
