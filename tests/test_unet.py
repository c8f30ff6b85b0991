"""unet.py and the model registry: the project's U-Net, its annealed-mean head, loading by
architecture name, and the --model option."""

import json
import zipfile

import numpy as np
import pytest

from filmcolor import models as fmodel
from filmcolor.models import ensemble, unet
from filmcolor.errors import EXIT_USAGE, WeightsError


@pytest.fixture
def gray_png(make_image):
    return make_image("gray.png")

BINS = np.array([[0.2, 0.3], [0.5, 0.5], [0.8, 0.6]], np.float32)  # ab codes


@pytest.fixture(scope="module")
def regress():
    return unet.build("regress", seed=0)


@pytest.fixture(scope="module")
def classify():
    return unet.build("classify", bins=BINS, seed=0)


@pytest.mark.parametrize("head", ["regress", "classify"])
def test_size_is_in_the_planned_range(regress, classify, head):
    m = regress if head == "regress" else classify
    assert 500_000 <= m.count_params() <= 3_000_000
    assert m.name == unet.NAME and fmodel.downsample(m) == unet.DOWNSAMPLE == 16


@pytest.mark.parametrize("hw", [(16, 16), (48, 64), (128, 96)])
@pytest.mark.parametrize("head", ["regress", "classify"])
def test_code_out_at_input_size(regress, classify, head, hw):
    m = regress if head == "regress" else classify
    y = np.asarray(m.predict_on_batch(np.random.default_rng(0).random((2, *hw, 1),
                                                                      np.float32)))
    assert y.shape == (2, *hw, 2)
    assert 0.0 < y.min() and y.max() < 1.0


def test_annealed_mean_decodes_logits(tmp_path):
    """Constant logits z everywhere -> softmax(z / T) @ bin centres at every pixel."""
    m = unet.build("classify", bins=BINS, temperature=0.5, seed=0)
    head = m.get_layer("ab_logits")
    kernel, _ = head.get_weights()
    z = np.array([1.0, 2.0, 0.5], np.float32)
    head.set_weights([np.zeros_like(kernel), z])
    p = np.exp(z / 0.5) / np.exp(z / 0.5).sum()
    want = p @ BINS
    y = np.asarray(m.predict_on_batch(np.full((1, 32, 32, 1), 0.4, np.float32)))
    inside = y[0, 1:-1, 1:-1].reshape(-1, 2)  # the outermost row is pulled towards gray
    np.testing.assert_allclose(inside, np.broadcast_to(want, inside.shape), atol=1e-5)
    # and the frozen decoder survives a save and a safe-mode load
    m.save(tmp_path / "c.keras")
    loaded = fmodel.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(loaded.get_layer("annealed_mean").get_weights()[0]
                               .reshape(-1, 2), BINS)
    assert not loaded.get_layer("annealed_mean").trainable



def test_decoding_choices_shift_the_logits_and_the_temperature(tmp_path):
    """with_prior_correction takes strength x log prior off each bin's logit and
    with_temperature rescales them; the result is an ordinary file that loads as it was."""
    m = unet.build("classify", bins=BINS, seed=0)
    head = m.get_layer("ab_logits")
    kernel, _ = head.get_weights()
    z = np.array([1.0, 2.0, 0.5], np.float32)
    head.set_weights([np.zeros_like(kernel), z])
    log_prior = np.log(np.array([0.1, 0.8, 0.1], np.float32))  # gray-ish bin 1 common
    x = np.full((1, 32, 32, 1), 0.4, np.float32)
    same = unet.with_prior_correction(m, log_prior, 0.0)
    np.testing.assert_allclose(same.predict_on_batch(x), m.predict_on_batch(x), atol=1e-6)
    decoded = unet.with_temperature(unet.with_prior_correction(m, log_prior, 0.5), 0.25)
    zz = (z - 0.5 * log_prior) / 0.25
    want = (np.exp(zz) / np.exp(zz).sum()) @ BINS
    decoded.save(tmp_path / "d.keras")
    loaded = fmodel.load_model(tmp_path / "d.keras")
    y = np.asarray(loaded.predict_on_batch(x))[0, 1:-1, 1:-1].reshape(-1, 2)
    np.testing.assert_allclose(y, np.broadcast_to(want, y.shape), atol=1e-5)
    assert unet.temperature_of(loaded) == pytest.approx(0.25)
    np.testing.assert_allclose(unet.bin_centres(loaded), BINS)
    # the model it was made from is untouched
    np.testing.assert_allclose(m.get_layer("ab_logits").get_weights()[1], z)

def test_training_model_outputs_logits_at_half_size(classify, regress):
    t = unet.training_model(classify)
    out = np.asarray(t.predict_on_batch(np.zeros((1, 32, 48, 1), np.float32)))
    assert out.shape == (1, 16, 24, len(BINS))
    assert unet.training_model(regress) is regress
    assert unet.head_of(classify) == "classify" and unet.head_of(regress) == "regress"


@pytest.mark.parametrize("head", ["regress", "classify"])
def test_saved_unet_has_no_lambda_and_round_trips(tmp_path, regress, classify, head):
    m = regress if head == "regress" else classify
    path = tmp_path / "u.keras"
    m.save(path)
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    classes = {layer["class_name"] for layer in config["config"]["layers"]}
    assert "Conv2D" in classes and not [c for c in classes if "Lambda" in c]
    loaded = fmodel.load_model(path)
    x = np.random.default_rng(1).random((1, 32, 32, 1), np.float32)
    np.testing.assert_array_equal(np.asarray(loaded.predict_on_batch(x)),
                                  np.asarray(m.predict_on_batch(x)))


def test_unknown_architecture_is_refused(tmp_path):
    keras = fmodel.import_keras()
    inputs = keras.Input(shape=(None, None, 1))
    other = keras.Model(inputs, keras.layers.Conv2D(2, 1, activation="sigmoid")(inputs),
                        name="mystery_net")
    other.save(tmp_path / "mystery.keras")
    with pytest.raises(WeightsError, match=r"mystery.keras: unknown architecture 'mystery_net'"):
        fmodel.load_model(tmp_path / "mystery.keras")


def test_unknown_model_name_lists_the_names():
    with pytest.raises(WeightsError, match="nope: no such model .models: unet, unet-studio, paper"):
        fmodel.shipped_weights("nope")


@pytest.mark.parametrize("name", list(fmodel.MODELS))
def test_every_registered_model_is_shipped_and_named_for_its_architecture(name):
    path = fmodel.shipped_weights(name)
    assert path.is_file() and path.stat().st_size > 0, path
    m = fmodel.load_model(path)
    want = {"lite0-unet": "filmcolor_lite0_unet", "ensemble": ensemble.NAME,
            "unet-hints": unet.HINTS_NAME}.get(
        name, unet.NAME if name.startswith("unet") else fmodel.PAPER_NAME)
    assert m.name == want


def test_default_model_is_registered():
    assert fmodel.DEFAULT_MODEL in fmodel.MODELS
    assert fmodel.DEFAULT_FILM_MODEL in fmodel.MODELS


def test_each_medium_gets_its_default_model(monkeypatch, tmp_path):
    """Photos and films have their own default (chosen on validation photos and film
    clips); a --weights file, or $FILMCOLOR_WEIGHTS, serves both."""
    from filmcolor.api import weights_path
    from filmcolor.batch import BatchOptions
    from filmcolor.batch.run import _weights_by_medium
    from filmcolor.options import ColorizeOptions

    monkeypatch.delenv("FILMCOLOR_WEIGHTS", raising=False)
    photo, film = fmodel.shipped_weights(), fmodel.shipped_weights(film=True)
    assert photo.name == "unet-studio.keras" and film.name == "unet.keras"
    assert weights_path(ColorizeOptions()) == photo
    assert weights_path(ColorizeOptions(), film=True) == film
    assert weights_path(ColorizeOptions(model="paper"), film=True).name == "paper.keras"
    hints = fmodel.shipped_weights("unet-hints")  # photos with hints, films with paintings
    assert weights_path(ColorizeOptions(), hints=True) == hints
    assert weights_path(ColorizeOptions(), film=True, hints=True) == hints
    assert weights_path(ColorizeOptions(model="unet"), film=True, hints=True) == film
    assert _weights_by_medium(BatchOptions()) == {"image": photo, "video": film,
                                                  "hints": hints}
    mine = tmp_path / "mine.keras"
    assert _weights_by_medium(BatchOptions(weights=mine)) == {"image": mine, "video": mine,
                                                              "hints": mine}
    monkeypatch.setenv("FILMCOLOR_WEIGHTS", str(mine))
    assert fmodel.shipped_weights() == fmodel.shipped_weights(film=True) == mine


def test_cli_unknown_model_lists_names(run_cli, gray_png, tmp_path):
    code, err = run_cli(gray_png, tmp_path / "out.png", "--model", "nope")
    assert code == EXIT_USAGE
    assert "'nope' is not one of 'unet', 'unet-studio', 'paper', 'paper-recipe'" in err
    assert not (tmp_path / "out.png").exists()


def test_cli_model_and_weights_together_is_refused(run_cli, gray_png, tmp_path, model_path):
    code, err = run_cli(gray_png, tmp_path / "out.png", "--model", "paper",
                        "--weights", model_path)
    assert code == EXIT_USAGE
    assert "--model or --weights, not both" in err


def test_cli_model_paper_colours_with_the_paper_network(run_cli, gray_png, tmp_path):
    code, err = run_cli(gray_png, tmp_path / "out.png", "--model", "paper")
    assert code == 0, err
    assert (tmp_path / "out.png").is_file()


def test_final_upsampling_is_bilinear_inside():
    """A code ramp at H/2 comes out as the bilinear (half-pixel) upsampling of it."""
    keras = fmodel.import_keras()
    inputs = keras.Input(shape=(None, None, 2))
    up = keras.Model(inputs, unet._bilinear_2x(keras.layers, inputs, name="t"))
    half = np.zeros((1, 8, 8, 2), np.float32)
    half[..., 0] = np.linspace(0.3, 0.7, 8)[None, :]
    half[..., 1] = 0.6
    got = np.asarray(up.predict_on_batch(half))[0]
    import cv2

    want = cv2.resize(half[0], (16, 16), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(got[1:-1, 1:-1], want[1:-1, 1:-1], atol=1e-6)
    assert np.all(np.abs(got - 0.5) <= np.abs(want - 0.5) + 1e-6)  # the rim: towards gray
