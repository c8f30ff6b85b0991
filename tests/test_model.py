"""The paper's Fig. 2 network, exactly (models/paper.py); saving, loading (models/files.py),
and loading on other backends."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from filmcolor import models as fmodel
from filmcolor.errors import WeightsError

# Fig. 2 / section IV.A, in order: (layer class, output channels, strides, activation).
FIG2 = [
    ("Conv2D", 8, (2, 2), "relu"),
    ("Dropout", 8, None, None),
    ("Conv2D", 16, (1, 1), "relu"),
    ("Conv2D", 16, (2, 2), "relu"),
    ("Dropout", 16, None, None),
    ("Conv2D", 32, (1, 1), "relu"),
    ("Conv2D", 32, (2, 2), "relu"),
    ("Dropout", 32, None, None),
    ("UpSampling2D", 32, None, None),
    ("Conv2D", 32, (1, 1), "relu"),
    ("UpSampling2D", 32, None, None),
    ("Conv2D", 16, (1, 1), "relu"),
    ("UpSampling2D", 16, None, None),
    ("Conv2D", 2, (1, 1), "sigmoid"),
]
FIG2_CONV_PARAMS = [80, 1168, 2320, 4640, 9248, 9248, 4624, 290]
FIG2_TOTAL = 31_618

EXIT_NO_BACKEND = 77  # the child's "this backend is not importable" code


def _is_empty_placeholder(path):
    return path.is_file() and path.stat().st_size == 0


def _shipped_path_or_skip(name=None):
    path = fmodel.shipped_weights(name)
    if _is_empty_placeholder(path):
        pytest.skip(f"{path} is still the empty placeholder (trained weights not shipped yet)")
    return path  # a missing file is a failure, not a skip


def _layers(model):
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _describe(layer):
    cfg = layer.get_config()
    strides = tuple(cfg["strides"]) if "strides" in cfg else None
    return (type(layer).__name__, layer.output.shape[-1], strides, cfg.get("activation"))


def _convs(model):
    return [layer for layer in _layers(model) if type(layer).__name__ == "Conv2D"]


def _spread_weights(model, seed):
    """He-scaled random kernels and biases, so the output varies (std ~0.04, not ~0.001).

    Glorot-initialised with zero biases, this net outputs ~0.5 everywhere, which would let
    a 1e-5 comparison pass for almost any loading bug; much larger weights make it chaotic
    (relu near-ties flip between backends).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        if w.ndim == 4:  # kernel: h x w x in x out
            std = np.sqrt(2.0 / np.prod(w.shape[:3]))
        else:  # bias
            std = 0.1
        weights.append(rng.normal(0.0, std, w.shape).astype(np.float32))
    model.set_weights(weights)
    return model


def _fixed_input(shape=(2, 64, 96, 1)):  # a multiple of every model's stride (32)
    """A smooth gradient plus texture, as L / 100 in [0, 1]."""
    n, h, w, _ = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = (xx / w * 0.6 + yy / h * 0.3)[None, ..., None]
    noise = np.random.default_rng(7).random(shape, dtype=np.float32) * 0.1
    return np.clip(base + noise, 0, 1).astype(np.float32)


def _input_for(model):
    """_fixed_input, with a hint map of a few coloured patches for a hint-taking model."""
    x = _fixed_input()
    if model.input_shape[-1] == 1:
        return x
    from filmcolor.hints import model_channels

    ab = np.zeros(x.shape[1:3] + (2,), np.float32)
    mask = np.zeros(x.shape[1:3], np.float32)
    for (r, c), colour in (((10, 12), (40, 20)), ((40, 70), (-30, 35))):
        ab[r:r + 5, c:c + 5], mask[r:r + 5, c:c + 5] = colour, 1.0
    hints = np.stack([model_channels(ab, mask, x[i, ..., 0]) for i in range(len(x))])
    return np.concatenate([x, hints], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def built():
    return fmodel.build_model(seed=0)


@pytest.fixture(params=["built", "paper", "paper-recipe"])
def fig2_model(request, built):
    """The Fig. 2 network as built, and both shipped files of it."""
    if request.param == "built":
        return built
    return fmodel.load_model(_shipped_path_or_skip(request.param))


# --- architecture ------------------------------------------------------------------------

def test_param_count_is_31618(built):
    assert built.count_params() == FIG2_TOTAL == fmodel.PARAMS
    assert sum(int(np.prod(w.shape)) for w in built.trainable_weights) == FIG2_TOTAL
    assert not built.non_trainable_weights


def test_layers_are_fig2_in_order(fig2_model):
    assert [_describe(layer) for layer in _layers(fig2_model)] == FIG2


def test_per_layer_param_counts(fig2_model):
    assert [layer.count_params() for layer in _convs(fig2_model)] == FIG2_CONV_PARAMS
    assert fig2_model.count_params() == FIG2_TOTAL


def test_every_conv_is_3x3_same(fig2_model):
    for layer in _convs(fig2_model):
        cfg = layer.get_config()
        assert tuple(cfg["kernel_size"]) == (3, 3), layer.name
        assert cfg["padding"] == "same", layer.name
        assert cfg["use_bias"], layer.name


def test_every_conv_has_l2_001_by_default(built):
    for layer in _convs(built):
        reg = layer.kernel_regularizer
        assert type(reg).__name__ == "L2", layer.name
        assert reg.get_config()["l2"] == pytest.approx(0.01), layer.name


def test_l2_zero_means_no_regularizer():
    assert all(layer.kernel_regularizer is None for layer in _convs(fmodel.build_model(l2=0)))


def test_dropout_rate_is_02_by_default(built):
    rates = [layer.rate for layer in _layers(built) if type(layer).__name__ == "Dropout"]
    assert rates == pytest.approx([0.2, 0.2, 0.2])


def test_no_lambda_layers(fig2_model):
    names = [type(layer).__name__ for layer in fig2_model.layers]
    assert not [n for n in names if "Lambda" in n]
    assert names[0] == "InputLayer" and fig2_model.input_shape == (None, None, None, 1)


@pytest.mark.parametrize("hw", [(8, 8), (16, 24), (40, 64), (104, 104), (8, 200)])
def test_output_size_equals_input_for_multiples_of_8(built, hw):
    y = np.asarray(built.predict_on_batch(np.full((1, *hw, 1), 0.5, np.float32)))
    assert y.shape == (1, *hw, 2)
    assert y.min() > 0.0 and y.max() < 1.0  # sigmoid


@pytest.mark.parametrize("hw, out_hw", [((100, 100), (104, 104)), ((12, 20), (16, 24))])
def test_other_sizes_come_out_rounded_up_to_8(built, hw, out_hw):
    """Why the engine pads to a multiple of 8 (fmodel.DOWNSAMPLE) before predicting."""
    y = built.predict_on_batch(np.full((1, *hw, 1), 0.5, np.float32))
    assert tuple(y.shape[1:3]) == out_hw
    assert fmodel.DOWNSAMPLE == 8


# --- saving and loading ------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_untrained(tmp_path_factory):
    """An untrained Fig. 2 model (spread random weights) saved as .keras."""
    path = tmp_path_factory.mktemp("model") / "untrained.keras"
    _spread_weights(fmodel.build_model(seed=1), seed=1).save(path)
    return path


def test_saved_file_has_no_lambda(saved_untrained):
    with zipfile.ZipFile(saved_untrained) as z:
        config = json.loads(z.read("config.json"))
    classes = [layer["class_name"] for layer in config["config"]["layers"]]
    assert "Conv2D" in classes and not [c for c in classes if "Lambda" in c]


def test_save_load_round_trip_in_safe_mode_is_identical(tmp_path):
    original = _spread_weights(fmodel.build_model(seed=2), seed=2)
    path = tmp_path / "m.keras"
    original.save(path)
    loaded = fmodel.load_model(path)  # safe_mode=True inside
    for a, b in zip(original.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = _fixed_input()
    want = np.asarray(original.predict_on_batch(x))
    assert want.std() > 0.02  # the comparison below means something
    np.testing.assert_array_equal(np.asarray(loaded.predict_on_batch(x)), want)
    assert [_describe(layer) for layer in _layers(loaded)] == FIG2
    assert all(type(layer.kernel_regularizer).__name__ == "L2" for layer in _convs(loaded))


@pytest.mark.parametrize("content", [None, b"", b"PK\x03\x04 not really a zip"],
                         ids=["missing", "empty", "garbage"])
def test_load_model_bad_file_raises_weights_error(tmp_path, content):
    path = tmp_path / "w.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match="w.keras"):
        fmodel.load_model(path)


def test_load_model_rejects_non_colorization_model(tmp_path):
    keras = fmodel.import_keras()
    inputs = keras.Input(shape=(None, None, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    path = tmp_path / "rgb.keras"
    other.save(path)
    with pytest.raises(WeightsError, match="not a colorization model"):
        fmodel.load_model(path)


# --- other Keras backends ---------------------------------------------------------------

_CHILD = textwrap.dedent(f"""
    import importlib, os, sys
    import numpy as np
    try:
        importlib.import_module(os.environ["KERAS_BACKEND"])
    except ImportError as ex:
        print(ex, file=sys.stderr)
        sys.exit({EXIT_NO_BACKEND})
    from filmcolor.models import load_model, import_keras
    keras = import_keras()
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
    model = load_model(sys.argv[1])
    np.save(sys.argv[3], np.asarray(model.predict_on_batch(np.load(sys.argv[2]))))
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("weights", ["untrained", *fmodel.MODELS])
def test_loads_and_predicts_the_same_on_other_backend(tmp_path, saved_untrained, weights,
                                                      backend):
    """The untrained Fig. 2 net and every shipped model give the same predictions."""
    keras = fmodel.import_keras()
    if keras.backend.backend() == backend:
        pytest.skip(f"this process already runs Keras on {backend}; nothing to compare")
    path = saved_untrained if weights == "untrained" else fmodel.shipped_weights(weights)
    assert weights == "untrained" or path.stat().st_size > 0, f"{path}: placeholder"
    model = fmodel.load_model(path)
    x = _input_for(model)
    want = np.asarray(model.predict_on_batch(x))
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu",
               CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npy")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode == EXIT_NO_BACKEND:
        pytest.skip(f"{backend} is not importable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    if weights == "untrained":  # our own fixture must give the comparison something to see
        assert want.std() > 0.02, "near-constant output: the comparison would mean little"
    got = np.load(tmp_path / "y.npy")
    assert got.shape == want.shape == (*x.shape[:3], 2)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", fmodel.shipped_model_files(), ids=lambda p: p.name)
def test_fast_load_restores_every_saved_value(path):
    """load_model builds with zero initialisers, then loads: every variable, trainable or
    not, must hold what Keras' own loader gives."""
    keras = fmodel.import_keras()
    ours = fmodel.load_model(path)
    theirs = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert len(ours.weights) == len(theirs.weights) > 0
    for a, b in zip(ours.weights, theirs.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_file_with_a_lambda_layer_is_refused_in_safe_mode(tmp_path):
    """Safe mode still guards loading: a Lambda layer (arbitrary code) is refused in one
    line, never run."""
    keras = fmodel.import_keras()
    inp = keras.Input((None, None, 1))
    out = keras.layers.Lambda(lambda t: keras.ops.concatenate([t, t], axis=-1))(inp)
    path = tmp_path / "lambda.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(fmodel.WeightsError, match=r"lambda\.keras: cannot load weights"):
        fmodel.load_model(path)
