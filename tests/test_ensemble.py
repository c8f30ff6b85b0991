"""The ensemble file: the mean of its members' codes, each also on the mirrored input;
saved and loaded in safe mode like any model file."""

import numpy as np
import pytest

from filmcolor import models as fmodel
from filmcolor.engine import Colorizer
from filmcolor.models import ensemble


def _member(name, seed):
    """A tiny colorization model whose output is not mirror-symmetric (random 3x3)."""
    keras = fmodel.import_keras()
    inp = keras.Input((None, None, 1))
    out = keras.layers.Conv2D(2, 3, padding="same", activation="sigmoid",
                              kernel_initializer=keras.initializers.RandomNormal(
                                  stddev=2.0, seed=seed), name=f"{name}_conv")(inp)
    return keras.Model(inp, out, name=name)


def _x(h=32, w=40):
    return np.random.default_rng(1).uniform(0, 1, (2, h, w, 1)).astype(np.float32)


def test_output_is_the_mean_of_members_and_their_mirrored_runs():
    a, b = _member("m_a", 1), _member("m_b", 2)
    x = _x()
    runs = []
    for m in (a, b):
        runs.append(np.asarray(m.predict_on_batch(x)))
        runs.append(np.asarray(m.predict_on_batch(x[:, :, ::-1]))[:, :, ::-1])
    assert np.abs(runs[0] - runs[1]).max() > 0.05  # mirroring matters for these members
    got = np.asarray(ensemble.build([a, b]).predict_on_batch(x))
    np.testing.assert_allclose(got, np.mean(runs, axis=0), atol=1e-6)
    plain = np.asarray(ensemble.build([a, b], mirror=False).predict_on_batch(x))
    np.testing.assert_allclose(plain, (runs[0] + runs[2]) / 2, atol=1e-6)


def test_assembled_file_loads_in_safe_mode_and_colorizes(tmp_path):
    a, b = _member("m_a", 1), _member("m_b", 2)
    pa, pb, out = tmp_path / "a.keras", tmp_path / "b.keras", tmp_path / "ens.keras"
    a.save(pa), b.save(pb)
    with pytest.raises(fmodel.WeightsError):  # members need a known architecture to load
        ensemble.assemble([pa, pb], out)
    assert not out.exists() and not list(tmp_path.glob(".*part*"))
    built = ensemble.build([a, b])
    built.save(out)
    fmodel.check_weights(out)  # the archive names a known architecture
    loaded = fmodel.load_model(out)  # safe mode inside
    assert loaded.name == ensemble.NAME and fmodel.downsample(loaded) == 32
    x = _x(64, 96)
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)),
                               np.asarray(built.predict_on_batch(x)), atol=1e-6)
    gray = np.random.default_rng(2).uniform(0, 1, (50, 70)).astype(np.float32)
    (ab,), (small,) = Colorizer(loaded, render_size=64).predict_ab([gray])
    assert ab.shape == (*small.shape, 2) and np.abs(ab).max() > 1


def test_assemble_writes_through_a_temporary_name(tmp_path):
    paths = []
    for i, name in enumerate(["filmcolor_unet", fmodel.PAPER_NAME]):
        paths.append(tmp_path / f"{i}.keras")
        _member(name, i).save(paths[-1])
    out = tmp_path / "ens.keras"
    ensemble.assemble(paths, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.keras", "1.keras", "ens.keras"]
    assert fmodel.load_model(out).name == ensemble.NAME


def test_members_of_one_architecture_are_renamed(tmp_path):
    a, b = _member("m", 1), _member("m", 2)
    built = ensemble.build([a, b], mirror=False)
    assert [layer.name for layer in built.layers[1:3]] == ["m", "m_2"]
    x = _x()
    want = (np.asarray(a.predict_on_batch(x)) + np.asarray(b.predict_on_batch(x))) / 2
    np.testing.assert_allclose(np.asarray(built.predict_on_batch(x)), want, atol=1e-6)
    with pytest.raises(ValueError, match="one or more"):
        ensemble.build([])


def test_gain_scales_the_mean_ab_and_is_saved(tmp_path):
    a, b = _member("m_a", 1), _member("m_b", 2)
    x = _x()
    plain = np.asarray(ensemble.build([a, b]).predict_on_batch(x))
    gained = ensemble.build([a, b], gain=1.5)
    want = np.clip(ensemble.GRAY_CODE + 1.5 * (plain - ensemble.GRAY_CODE), 0, 1)
    got = np.asarray(gained.predict_on_batch(x))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - plain).max() > 0.05  # the gain changed something
    gained.save(tmp_path / "g.keras")
    loaded = fmodel.load_model(tmp_path / "g.keras")  # safe mode
    assert loaded.get_layer("chroma_gain").gain == 1.5
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)), got, atol=1e-6)


def _saved_members(tmp_path):
    """Two member files of one architecture and one of another, as shipped files are."""
    paths = []
    for i, name in enumerate(["filmcolor_unet", "filmcolor_unet", fmodel.PAPER_NAME]):
        paths.append(tmp_path / f"m{i}.keras")
        _member(name, i).save(paths[-1])
    return paths


def test_a_manifest_gives_the_ensemble_its_members_make(tmp_path):
    paths = _saved_members(tmp_path)
    manifest = tmp_path / "ens.json"
    ensemble.assemble(paths, manifest, gain=1.2)  # relative member names, beside it
    assert ensemble.read_manifest(manifest) == (paths, True, 1.2)
    built = ensemble.build([fmodel.load_model(p, name=f"n{i}") for i, p in enumerate(paths)],
                           gain=1.2)
    loaded = fmodel.load_model(manifest)
    assert loaded.name == ensemble.NAME
    x = _x()
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)),
                               np.asarray(built.predict_on_batch(x)), atol=1e-6)
    assert fmodel.check_weights(manifest) == ensemble.NAME
    # a member's bytes are part of the manifest's identity (resume keys)
    before = fmodel.weights_identity(manifest)
    _member(fmodel.PAPER_NAME, 9).save(paths[2])
    after = fmodel.weights_identity(manifest)
    assert before["name"] == after["name"] == "ens.json" and before["sha256"] != after["sha256"]


@pytest.mark.parametrize("text, why", [
    ("{not json", "not an ensemble manifest"),
    ('{"members": ["m0.keras"]}', 'no "format"'),
    ('{"format": "filmcolor-ensemble-1", "members": []}', '"members" must be a non-empty'),
    ('{"format": "filmcolor-ensemble-1", "members": ["m0.keras"], "gain": "x"}',
     '"gain" a number'),
    ('{"format": "filmcolor-ensemble-1", "members": ["other.json"]}',
     "members must be .keras files"),
    ('{"format": "filmcolor-ensemble-1", "members": ["missing.keras"]}',
     "missing.keras: weights file not found"),
])
def test_a_bad_manifest_is_refused_in_one_line(tmp_path, text, why):
    _saved_members(tmp_path)
    manifest = tmp_path / "ens.json"
    manifest.write_text(text)
    for check in (fmodel.check_weights, fmodel.load_model):
        with pytest.raises(fmodel.WeightsError) as err:
            check(manifest)
        assert why in str(err.value) and "\n" not in str(err.value), err.value
