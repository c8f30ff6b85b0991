"""The paper's CNN (Revathi et al., Fig. 2), exactly: 31,618 parameters.

Input: L / 100, N x H x W x 1 with H and W multiples of 8. Output: sigmoid ab code,
N x H x W x 2 (see color.py). Three stride-2 convolutions down, three 2x upsamplings up.
The paper's reshape/resize Lambda layers are replaced by padding to a multiple of 8 outside
the model, so the saved file has no Lambda and loads in safe mode on every Keras backend.
"""

from .backend import import_keras

DOWNSAMPLE = 8  # three stride-2 convolutions
PARAMS = 31_618
PAPER_NAME = "revathi2023"  # the Fig. 2 network's Keras model name

# (filters, stride, dropout after) for the encoder, as in Fig. 2 and section IV.A.
_ENCODER = [(8, 2, True), (16, 1, False), (16, 2, True), (32, 1, False), (32, 2, True)]
_DECODER = [32, 16]


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
