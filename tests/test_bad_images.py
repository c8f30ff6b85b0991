"""Damaged, huge, animated and unusually compressed still images: each gets one filmcolor
line (error or warning) with an exact exit code, and what libpng or libjpeg print is folded
into that line instead of reaching stderr on its own. Files are made here, by flipping
bytes and writing headers, never committed."""

import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from filmcolor.errors import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL
from filmcolor.image import read_image


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def flip_png_idat(path):
    """One byte of the image data inverted, the chunk's CRC left as it was."""
    data = bytearray(path.read_bytes())
    idat = data.find(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    data[idat + 4 + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def flip_jpeg_scan(path):
    """Most of the entropy-coded data XORed, the file's length and end marker kept."""
    data = bytearray(path.read_bytes())
    sos = data.find(b"\xff\xda")
    data[sos + 20:-2] = bytes(b ^ 0x55 for b in data[sos + 20:-2])
    path.write_bytes(bytes(data))
    return path


def eoi_in_jpeg_scan(path):
    """An end-of-image marker in the middle of the scan: decodes, half of it gray."""
    data = bytearray(path.read_bytes())
    sos = data.find(b"\xff\xda")
    mid = (sos + len(data)) // 2
    data[mid:mid + 2] = b"\xff\xd9"
    path.write_bytes(bytes(data))
    return path


def with_bad_iccp(path):
    """A colour profile libpng warns about (and ignores)."""
    data = path.read_bytes()
    profile = chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(b"x" * 10))
    path.write_bytes(data[:33] + profile + data[33:])
    return path


def huge_png(path, width=20000, height=20000):
    """A 300-byte PNG whose header declares width x height gray pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 8)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def animated(path, frames=4, size=(24, 32)):
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, size, np.uint8)) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
    return path


def damaged_tiff(path):
    """An LZW TIFF with bytes of its strip inverted."""
    import tifffile

    from conftest import gray_pattern

    tifffile.imwrite(path, gray_pattern(64, 96, np.uint16), compression="lzw")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        start = tif.pages.first.dataoffsets[0]
    for i in range(start + 10, start + 60):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def said(err):
    """stderr's lines, less the start-up line naming the model."""
    return [line for line in err.splitlines() if not line.startswith("filmcolor: model ")]


# ----------------------------------------------------------------------------- damaged data


def test_flipped_png_is_damaged_with_libpngs_reason(run_cli, make_image, tmp_path, model_path):
    src = flip_png_idat(make_image("flip.png", "gray8", (64, 96)))
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert said(err) == [f"filmcolor: error: {src}: damaged image data (libpng: IDAT: "
                         "incorrect data check)"]


def test_flipped_jpeg_at_full_length_is_damaged_not_truncated(run_cli, make_image, tmp_path,
                                                              model_path):
    src = flip_jpeg_scan(make_image("flip.jpg", "gray8", (64, 96)))
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert said(err) == [f"filmcolor: error: {src}: damaged image data (libjpeg: Corrupt "
                         "JPEG data: premature end of data segment)"]


def test_damaged_tiff_says_what_its_decoder_found(run_cli, tmp_path, model_path):
    src = damaged_tiff(tmp_path / "flip.tif")
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert said(err) == [f"filmcolor: error: {src}: damaged image data (tifffile: "
                         "imcd_lzw_decode returned IMCD_LZW_CORRUPT)"]


def test_jpeg_that_decodes_with_complaints_is_colorized_with_a_warning(run_cli, make_image,
                                                                       tmp_path, model_path):
    src = eoi_in_jpeg_scan(make_image("early.jpg", "gray8", (64, 96)))
    out = tmp_path / "out.png"
    code, err = run_cli(src, out, "--weights", model_path)
    assert code == EXIT_OK, err
    assert said(err) == [
        f"filmcolor: warning: {src}: damaged image data, used as decoded (libjpeg: Corrupt "
        "JPEG data: premature end of data segment)",
        f"filmcolor: wrote 1 image to {out}"]


def test_harmless_profile_warning_is_not_shown(run_cli, make_image, tmp_path, model_path):
    src = with_bad_iccp(make_image("profile.png", "gray8", (24, 32)))
    out = tmp_path / "out.png"
    code, err = run_cli(src, out, "--weights", model_path)
    assert code == EXIT_OK, err
    assert said(err) == [f"filmcolor: wrote 1 image to {out}"]


@pytest.mark.parametrize("name", ["flip.png", "flip.jpg", "early.jpg", "profile.png"])
def test_library_lines_never_reach_the_file_descriptor(make_image, capfd, name):
    src = make_image(name, "gray8", (64, 96))
    {"flip.png": flip_png_idat, "flip.jpg": flip_jpeg_scan, "early.jpg": eoi_in_jpeg_scan,
     "profile.png": with_bad_iccp}[name](src)
    capfd.readouterr()
    try:
        read_image(src)
    except Exception:  # noqa: BLE001 - the message is tested above; here only fd 2
        pass
    assert capfd.readouterr().err == ""


# ----------------------------------------------------------------------------- pixel limit


def test_huge_header_is_refused_before_decoding(run_cli, tmp_path, model_path, monkeypatch):
    src = huge_png(tmp_path / "huge.png")

    def no_decode(*args):
        raise AssertionError("decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    code, err = run_cli(src, tmp_path / "out.png", "--weights", model_path)
    assert code == EXIT_ERROR
    assert said(err) == [f"filmcolor: error: {src}: 20000x20000 is 400 megapixels, over the "
                         "limit of 200 megapixels; raise it with --max-pixels or "
                         "FILMCOLOR_MAX_PIXELS"]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_pixel_limit_can_be_moved(run_cli, make_image, tmp_path, model_path, monkeypatch,
                                  how):
    src = make_image("photo.png", "gray8", (100, 100))  # 10000 pixels
    out = tmp_path / "out.png"

    def limit(n):
        if how == "option":
            return ["--max-pixels", str(n)]
        monkeypatch.setenv("FILMCOLOR_MAX_PIXELS", str(n))
        return []

    code, err = run_cli(src, out, "--weights", model_path, *limit(9999))
    assert code == EXIT_ERROR
    assert said(err) == [f"filmcolor: error: {src}: 100x100 is 0.01 megapixels, over the "
                         "limit of 0.009999 megapixels; raise it with --max-pixels or "
                         "FILMCOLOR_MAX_PIXELS"]
    code, err = run_cli(src, out, "--weights", model_path, *limit(10000))
    assert code == EXIT_OK, err


# ----------------------------------------------------------------------------- TIFF


@pytest.mark.parametrize("compression, predictor, kind", [
    (None, None, "gray16"), ("lzw", None, "gray16"), ("lzw", 2, "gray16"),
    ("lzw", 2, "rgb16"), ("deflate", 2, "gray16"), ("packbits", None, "gray16"),
    ("zstd", None, "gray16"), ("lzma", None, "gray16"), ("jpeg", None, "rgb8")])
def test_common_tiff_compressions_are_read(tmp_path, compression, predictor, kind):
    """Scanners write 16-bit LZW (with the horizontal predictor) most; OpenCV's libtiff
    lacks zstd, LZMA and JPEG-in-TIFF, which tifffile reads instead."""
    import tifffile

    from conftest import gray_pattern

    gray = gray_pattern(40, 56, np.uint16 if kind.endswith("16") else np.uint8)
    array = np.stack([gray] * 3, axis=-1) if kind.startswith("rgb") else gray
    src = tmp_path / f"scan-{compression}.tif"
    tifffile.imwrite(src, array, compression=compression, predictor=predictor,
                     photometric="rgb" if array.ndim == 3 else "minisblack")
    rgb, dtype = read_image(src)
    assert dtype == gray.dtype and rgb.shape == (40, 56, 3)
    tolerance = 0.04 if compression == "jpeg" else 1e-6
    assert np.abs(rgb[..., 1] - gray / np.iinfo(gray.dtype).max).max() < tolerance


def test_sixteen_bit_lzw_tiff_is_colorized_to_sixteen_bits(run_cli, tmp_path, model_path,
                                                           helpers):
    import tifffile

    src = tmp_path / "scan.tif"
    tifffile.imwrite(src, helpers.gray_pattern(40, 56, np.uint16), compression="lzw",
                     predictor=2)
    out = tmp_path / "out.tif"
    code, err = run_cli(src, out, "--weights", model_path)
    assert code == EXIT_OK, err
    assert helpers.read(out).dtype == np.uint16


# ----------------------------------------------------------------------------- animated


@pytest.mark.parametrize("name", ["anim.gif", "anim.webp"])
def test_animated_image_to_a_still_is_its_first_frame_with_a_warning(run_cli, tmp_path,
                                                                     model_path, helpers,
                                                                     name):
    src = animated(tmp_path / name)
    out = tmp_path / "out.png"
    code, err = run_cli(src, out, "--weights", model_path)
    assert code == EXIT_OK, err
    assert said(err) == [
        f"filmcolor: warning: {src}: animated image (4 frames); only its first frame is used",
        f"filmcolor: wrote 1 image to {out}"]
    assert helpers.read(out).shape == (24, 32, 3)


def test_a_gif_is_still_a_film_for_a_film_output(tmp_path):
    from filmcolor.api import is_video

    assert is_video(animated(tmp_path / "anim.gif"))


# ----------------------------------------------------------------------------- stderr


def test_bad_images_put_only_filmcolor_lines_on_stderr(tmp_path, model_path, make_image,
                                                       truncate):
    """The real process: C libraries write to fd 2 directly, which only a subprocess shows."""
    album = tmp_path / "album"
    flip_png_idat(make_image("album/flip.png", "gray8", (64, 96)))
    flip_jpeg_scan(make_image("album/flip.jpg", "gray8", (64, 96)))
    eoi_in_jpeg_scan(make_image("album/early.jpg", "gray8", (64, 96)))
    with_bad_iccp(make_image("album/profile.png", "gray8", (24, 32)))
    truncate(make_image("album/cut.png", "gray8", (64, 96)))
    truncate(make_image("album/cut.jpg", "gray8", (64, 96)))
    damaged_tiff(album / "flip.tif")
    huge_png(album / "huge.png")
    animated(album / "anim.webp")
    env = {k: v for k, v in os.environ.items() if k != "FILMCOLOR_DEBUG"}
    env["TQDM_DISABLE"] = "1"  # the progress bar is ours, but not a line
    proc = subprocess.run([sys.executable, "-m", "filmcolor", str(album), str(tmp_path / "out"),
                           "--weights", str(model_path)], capture_output=True, text=True,
                          timeout=300, env=env)
    lines = proc.stderr.splitlines()
    assert proc.returncode == EXIT_PARTIAL, proc.stderr
    assert lines and all(line.startswith("filmcolor:") for line in lines), proc.stderr
    failed = sorted(line.split(": error: ")[1].split(":")[0].rsplit("/", 1)[-1]
                    for line in lines if ": error: /" in line)
    assert failed == ["cut.jpg", "cut.png", "flip.jpg", "flip.png", "flip.tif", "huge.png"]
    assert lines[-1] == "filmcolor: error: 6 of 9 items failed"


@pytest.mark.parametrize("output", ["out.mp4", "out.png"])
def test_a_picture_named_like_a_film_is_said_to_be_a_picture(run_cli, tmp_path, make_image,
                                                            model_path, output):
    """A PNG renamed .mp4 is not colorized as a one-frame film: one line says what it is."""
    src = tmp_path / "holiday.mp4"
    make_image("holiday.png").rename(src)
    code, err = run_cli(src, tmp_path / output, "--weights", model_path, "-q")
    assert code == 1
    assert err.strip() == (f"filmcolor: error: {src}: a PNG picture, not a film (named like "
                           "one); give it an image extension to colorize it as a photo")
    assert not (tmp_path / output).exists()


def test_batch_takes_the_pixel_limit_too(run_cli, make_image, tmp_path, model_path):
    import json

    make_image("shelf/photo.png", "gray8", (100, 100))
    out = tmp_path / "out"
    code, err = run_cli("batch", tmp_path / "shelf", "-o", out, "--weights", model_path, "-q",
                        "--max-pixels", "9999")
    assert code == 3
    row = json.loads((out / "report.json").read_text())["items"][0]
    assert row["status"] == "failed" and "over the limit of 0.009999 megapixels" in row["reason"]
    code, err = run_cli("batch", tmp_path / "shelf", "-o", out, "--weights", model_path, "-q",
                        "--max-pixels", "10000")
    assert code == 0, err
