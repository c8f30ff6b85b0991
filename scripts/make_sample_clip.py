#!/usr/bin/env python3
"""Make samples/megamind_bw.mp4: a black-and-white film clip with its sound track.

    python scripts/make_sample_clip.py [--unpacked DIR] [--out samples/megamind_bw.mp4]

Source: examples/data/Megamind.avi of Debian's opencv-doc (MPEG-4 Part 2, 720x528, 23.976
fps, 270 frames, 11.26 s; AC3 stereo 48 kHz 192 kb/s). With --unpacked DIR the package is
read from DIR/opencv-doc (as `dpkg -x` left it); otherwise it is fetched with
`apt-get download` + `dpkg -x` (make_corpus.fetch).

The clip keeps the whole 11.26 s (about 0.9 MB, under the 1.5 MB we allow a sample):

- video: every frame, in display order, with its original timestamp in the original time
  base (125/2997 s; MP4 stores it as 500/11988, the same instants). The Y plane is the
  source's samples, untouched; U and V are set to neutral (128), so nothing goes through
  RGB. H.264 (libx264, --crf 23, --preset medium), yuv420p, limited range and untagged, as
  the source.
- audio: the AC3 track copied packet for packet (MP4 holds AC3; no re-encode), with its
  timestamps. One exception: the AVI's first audio chunk is a 729-byte tail of an AC3 frame
  (no sync word), which no decoder can use and which libavformat's MP4 muxer drops without
  a word; it is dropped here, with a message. The other 351 packets are the source's bytes.

The AVI stores DivX "packed B-frames", so the decoder hands out frames in display order but
with their timestamps permuted (1, 2, 3, 5, 4, 6, 8, 7, ...). The timestamps are a
permutation of the display times, so the k-th frame out of the decoder gets the k-th
smallest timestamp (read in a first, decode-only pass).
"""

import argparse
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_corpus import fetch  # noqa: E402

PACKAGE = "opencv-doc"
SOURCE = "usr/share/doc/opencv-doc/examples/data/Megamind.avi"
AC3_SYNC = b"\x0b\x77"
NEUTRAL = 128  # 8-bit Cb/Cr of gray
# Edit lists are written in the movie timescale (1/1000 s by default), which would move the
# first frame (1 x 125/2997 s) by 8 ticks of 1/11988; LCM(11988, 48000) keeps both exact.
MP4_OPTIONS = {"movflags": "+faststart", "movie_timescale": "47952000"}


def display_pts(path):
    """Pass 1: the video frames' timestamps, sorted into display order."""
    with av.open(str(path)) as src:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"
        return sorted(frame.pts for frame in src.decode(stream))


def plane_view(plane):
    """A plane's samples as a writable H x W uint8 view without line padding."""
    buf = np.frombuffer(plane, np.uint8)
    return buf.reshape(plane.height, plane.line_size)[:, :plane.width]


def make_clip(src_path, dst, crf=23, preset="medium"):
    """Write the black-and-white clip; returns (frames written, audio packets copied)."""
    times = display_pts(src_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.part")
    frames = packets = 0
    try:
        with av.open(str(src_path)) as src, \
                av.open(str(tmp), "w", format="mp4", options=MP4_OPTIONS) as out:
            vin, ain = src.streams.video[0], src.streams.audio[0]
            vin.thread_type = "AUTO"
            rate = vin.average_rate
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
            vout.pix_fmt = "yuv420p"
            vout.time_base = vin.time_base
            vout.codec_context.time_base = vin.time_base
            vout.codec_context.options = {"crf": str(crf), "preset": preset}
            aout = out.add_stream_from_template(ain)

            for packet in src.demux(vin, ain):
                if packet.stream.index == ain.index:
                    if not packet.size:
                        continue
                    if packets == 0 and bytes(packet)[:2] != AC3_SYNC:
                        print(f"dropped the first audio packet (pts {packet.pts}, "
                              f"{packet.size} bytes): not an AC3 frame (no sync word)",
                              file=sys.stderr)
                        continue
                    packet.stream = aout
                    out.mux(packet)
                    packets += 1
                    continue
                for frame in packet.decode():
                    if frame.format.name != "yuv420p":
                        raise SystemExit(f"{src_path}: expected yuv420p, got {frame.format.name}")
                    bw = av.VideoFrame(frame.width, frame.height, "yuv420p")
                    plane_view(bw.planes[0])[:] = plane_view(frame.planes[0])
                    plane_view(bw.planes[1])[:] = NEUTRAL
                    plane_view(bw.planes[2])[:] = NEUTRAL
                    bw.pts = times[frames]
                    bw.time_base = vin.time_base
                    out.mux(vout.encode(bw))
                    frames += 1
            out.mux(vout.encode(None))
        if frames != len(times):
            raise SystemExit(f"{src_path}: decoded {frames} frames, pass 1 saw {len(times)}")
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return frames, packets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--unpacked", type=Path, help="packages already unpacked, one folder each")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                    / "samples" / "megamind_bw.mp4")
    ap.add_argument("--crf", type=int, default=23)
    ap.add_argument("--preset", default="medium")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.unpacked / PACKAGE if args.unpacked else fetch(PACKAGE, tmp)
        frames, packets = make_clip(root / SOURCE, args.out, args.crf, args.preset)
    size = args.out.stat().st_size
    print(f"{args.out}: {frames} frames, {packets} AC3 packets copied, "
          f"{size / 1e6:.2f} MB, from {PACKAGE}:{SOURCE}")


if __name__ == "__main__":
    main()
