"""filmcolor keyframes: one gray frame per shot, mapped back to its exact frame."""

import json

import av
import cv2
import numpy as np
from test_video import write_clip

from filmcolor.errors import EXIT_USAGE

H, W = 48, 64


def _texture(seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (H // 8, W // 8)).astype(np.float32)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC).clip(16, 235)


def _shots(tmp_path, name="film.mp4", black=1, a=7, b=8):
    """`black` black frames, then `a` frames of texture A panning 1 px a frame, then `b`
    frames of texture B: two shots with pictures (a cut at black + a)."""
    ta, tb = _texture(1), _texture(2)
    lumas = [np.full((H, W), 16, np.uint8)] * black
    lumas += [np.roll(ta, i, axis=1).astype(np.uint8) for i in range(a)]
    lumas += [tb.astype(np.uint8)] * b
    path = tmp_path / name
    write_clip(path, size=(H, W), n=len(lumas), lumas=lumas, codec="ffv1",
               pix_fmt="yuv420p", audio=False)
    return path, lumas


def _decoded_lumas(path):
    """The Y plane of every frame, as stored (limited range)."""
    with av.open(str(path)) as c:
        return [f.to_ndarray()[:H] for f in c.decode(video=0)]  # yuv420p: Y rows first


def test_one_keyframe_per_shot_names_its_frame_and_holds_its_luma(tmp_path, run_cli):
    film, _ = _shots(tmp_path)
    keys = tmp_path / "keys"
    code, err = run_cli("keyframes", film, keys)
    assert code == 0, err
    names = sorted(p.name for p in keys.iterdir())
    # the black opening frame is a shot with nothing to paint; A starts at 1, B at 8
    assert names == ["contact.jpg", "frame-000001.png", "frame-000008.png", "keyframes.json"]
    info = json.loads((keys / "keyframes.json").read_text())
    assert [(k["frame"], k["shot"]) for k in info["frames"]] == [(1, 1), (8, 2)]
    assert "1 of 3 shots are flat" in err
    decoded = _decoded_lumas(film)
    with av.open(str(film)) as c:
        pts = [f.pts for f in c.decode(video=0)]
    for k in info["frames"]:
        gray = cv2.imread(str(keys / k["file"]), cv2.IMREAD_UNCHANGED)
        assert gray.shape == (H, W) and gray.dtype == np.uint8
        assert k["pts"] == pts[k["frame"]]
        # display-referred: the film's limited-range luma stretched to 0..255
        full = np.clip((decoded[k["frame"]].astype(np.float32) - 16) * 255 / 219, 0, 255)
        assert np.abs(gray.astype(np.float32) - full).max() <= 1.0
    sheet = cv2.imread(str(keys / "contact.jpg"))
    assert sheet is not None and sheet.shape[1] > 2 * 200
    assert not list(keys.glob(".*.part"))


def test_every_adds_frames_within_a_long_shot(tmp_path, run_cli):
    film, _ = _shots(tmp_path, black=0, a=20, b=4)  # 24 fps: shot A lasts 20 frames
    keys = tmp_path / "keys"
    code, err = run_cli("keyframes", film, keys, "--every", "0.25", "-q")  # 6 frames
    assert code == 0, err
    info = json.loads((keys / "keyframes.json").read_text())
    assert [k["frame"] for k in info["frames"]] == [0, 6, 12, 18, 20]
    assert [k["shot"] for k in info["frames"]] == [0, 0, 0, 0, 1]


def test_a_picture_or_a_missing_file_is_refused_in_one_line(tmp_path, run_cli, make_image):
    photo = make_image("photo.png")
    code, err = run_cli("keyframes", photo, tmp_path / "keys")
    assert code == EXIT_USAGE and err.strip().count("\n") == 0, err
    assert "photo.png: a picture, not a film" in err
    code, err = run_cli("keyframes", tmp_path / "none.mp4", tmp_path / "keys")
    assert code == EXIT_USAGE and "none.mp4: no such file" in err
    assert not (tmp_path / "keys").exists()
