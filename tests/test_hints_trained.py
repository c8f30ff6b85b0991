"""The shipped hint model (`unet-hints`) end to end through the command line: one stroke
on each of two objects of different brightness colours each whole object in its stroke's
colour, and the background takes neither; on a photo and on a stroked keyframe of a
generated clip with motion, through the shot."""

import cv2
import numpy as np
import pytest

from filmcolor import color
from filmcolor.errors import EXIT_OK
from filmcolor.models import shipped_weights

H, W = 192, 256
A = np.array((15.0, -35.0))  # the dark disc's stroke: blue
B = np.array((-25.0, 45.0))  # the bright square's stroke: yellow-green
DARK, BRIGHT, BACK = 0.28, 0.78, 0.5


@pytest.fixture(scope="module")
def hint_weights():
    path = shipped_weights("unet-hints")
    assert path.is_file(), path
    return path


def scene(shift=0, seed=0):
    """Luma of a dark disc and a bright square on mid-gray, with grain; their masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - 96) ** 2 + (xx - 70 - shift) ** 2 < 45 ** 2
    square = (yy > 50) & (yy < 150) & (xx > 140 + shift) & (xx < 230 + shift)
    g = np.full((H, W), BACK, np.float32)
    g[disc], g[square] = DARK, BRIGHT
    g = np.clip(g + rng.normal(0, 0.02, g.shape), 0, 1).astype(np.float32)
    return g, disc, square


def rgb_of(luma, ab):
    L = color.gray_to_L(np.full((1, 1), luma, np.float32))[0, 0]
    return color.lab_to_rgb(np.array([[[L, *ab]]], np.float32))[0, 0]


def stroked(gray, shift=0):
    """The gray picture as uint8 BGR with one stroke across each object."""
    paint = np.repeat(gray[..., None], 3, axis=-1).copy()
    cv2.line(paint, (45 + shift, 96), (95 + shift, 96), [float(v) for v in rgb_of(DARK, A)], 5)
    cv2.line(paint, (160 + shift, 100), (210 + shift, 100),
             [float(v) for v in rgb_of(BRIGHT, B)], 5)
    return cv2.cvtColor(np.rint(paint * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def test_strokes_give_each_object_its_strokes_hue_and_leave_the_background(
        run_cli, tmp_path, hint_weights):
    """What the shipped model does meet: each object nearer its own stroke's colour than
    the other's and than gray, for nearly all of its pixels; the background takes
    neither."""
    gray, disc, square = scene()
    cv2.imwrite(str(tmp_path / "photo.png"), np.rint(gray * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "hints.png"), stroked(gray))
    assert run_cli(tmp_path / "photo.png", tmp_path / "out.png", "--hints",
                   tmp_path / "hints.png")[0] == EXIT_OK
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB)
    ab = color.rgb_to_lab(out.astype(np.float32) / 255)[..., 1:]
    dist = lambda where, c: np.hypot(*(ab[where] - c).T)
    for where, own, other in ((disc, A, B), (square, B, A)):
        mine = dist(where, own)
        assert ((mine < dist(where, other)) & (mine < dist(where, (0.0, 0.0)))).mean() > 0.95
    back = ~cv2.dilate((disc | square).astype(np.uint8), np.ones((9, 9))).astype(bool)
    assert ((dist(back, A) < 10) | (dist(back, B) < 10)).mean() < 0.1


def check(rgb, disc, square):
    """Each object >= 80% within 10 ab units of its stroke's colour; the background
    (beyond a 4 px margin round the objects) < 10% within 10 of either."""
    ab = color.rgb_to_lab(rgb)[..., 1:]
    near = lambda where, c: np.hypot(*(ab[where] - c).T) < 10
    back = ~cv2.dilate((disc | square).astype(np.uint8), np.ones((9, 9))).astype(bool)
    got = (near(disc, A).mean(), near(square, B).mean(),
           (near(back, A) | near(back, B)).mean())
    assert got[0] >= 0.8 and got[1] >= 0.8 and got[2] < 0.1, got
    return got


# Issue 26's bar, not met yet by the shipped model: each object takes its stroke's hue, but
# the bright square comes out more saturated than its stroke (median ab (-29, 56) for
# (-25, 45): 31% of its pixels within 10 ab units on the photo, 48% on the film).
NOT_YET = pytest.mark.xfail(strict=True, reason="issue 26: the bright object's colour "
                            "overshoots its stroke's chroma (31% / 48% within 10 ab units)")


@NOT_YET
def test_a_stroke_on_each_object_colours_the_whole_object_in_a_photo(run_cli, tmp_path,
                                                                    hint_weights):
    gray, disc, square = scene()
    cv2.imwrite(str(tmp_path / "photo.png"), np.rint(gray * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "hints.png"), stroked(gray))
    code, err = run_cli(tmp_path / "photo.png", tmp_path / "out.png", "--hints",
                        tmp_path / "hints.png")
    assert code == EXIT_OK, err
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB)
    check(out.astype(np.float32) / 255, disc, square)


@NOT_YET
def test_strokes_on_a_keyframe_colour_the_objects_through_the_shot(run_cli, tmp_path,
                                                                  hint_weights):
    from test_film_options import write_rgb_clip

    n = 12
    frames = [scene(shift=2 * t, seed=t)[0] for t in range(n)]
    write_rgb_clip(tmp_path / "film.mkv",
                   [np.repeat(np.rint(g * 255).astype(np.uint8)[..., None], 3, axis=-1)
                    for g in frames], codec="ffv1", pix_fmt="yuv444p")
    keys = tmp_path / "keys"
    keys.mkdir()
    cv2.imwrite(str(keys / "frame-000000.png"), stroked(frames[0]))
    code, err = run_cli(tmp_path / "film.mkv", tmp_path / "out.mkv", "--reference", keys,
                        "--codec", "ffv1")
    assert code == EXIT_OK, err
    assert "unet-hints.keras" in err  # painted frames go to the hint model
    import av

    with av.open(str(tmp_path / "out.mkv")) as c:
        out = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(out) == n
    for t in (0, n // 2, n - 1):  # the keyframe, and carried through the shot
        _, disc, square = scene(shift=2 * t, seed=t)
        check(out[t].astype(np.float32) / 255, disc, square)


# --- the README's scripts, at a tiny size ------------------------------------------------

def test_hint_curve_script_writes_its_table_plot_and_rows(tmp_path, hint_weights):
    from test_scripts_data import run_script

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        gray, disc, square = scene(seed=i)
        rgb = np.repeat(gray[..., None], 3, axis=-1)
        rgb[disc], rgb[square] = rgb_of(DARK, A), rgb_of(BRIGHT, B)
        cv2.imwrite(str(photos / f"p{i}.png"),
                    cv2.cvtColor(np.rint(rgb * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    out = tmp_path / "curve"
    run_script("hint_curve.py", photos, "--out", out, "--counts", "0", "10",
               "--render-size", "64")
    rows = (out / "curve.csv").read_text().splitlines()
    assert rows[0].startswith("points,column,images,psnr")
    assert len(rows) == 1 + 5 + 4  # 0 points: 3 fills/models, automatic, gray; 10: 3, gray
    ten = {r.split(",")[1]: float(r.split(",")[4]) for r in rows[1:] if r.startswith("10,")}
    assert ten["hint model"] > 1.0 and ten["guided spread"] > 0.5  # PSNR over gray, dB
    assert (out / "curve.md").read_text().startswith("| points |")
    assert cv2.imread(str(out / "curve.png")) is not None


def test_stroke_demo_script_writes_its_picture(tmp_path, hint_weights):
    from test_scripts_data import run_script

    run_script("stroke_demo.py", tmp_path / "strokes.jpg", "--later", "5")
    img = cv2.imread(str(tmp_path / "strokes.jpg"))
    assert img is not None and img.shape[0] == 264 and img.shape[1] > 4 * 300
