"""Video: a header-only summary and a preview of one frame from the middle of a 10-minute 1080p MP4.

The video is made on the fly (and deleted): FFmpeg's ``testsrc2`` pattern (moving
shapes, a counter, coloured noise bars) at 1920x1080, 24 fps, encoded by libx264
``ultrafast`` (CRF 30, a keyframe every 250 frames: x264's default interval, no
B-frames), with a 440 Hz AAC audio track; about 600 MB. Encoding 14,400 frames is the
slow part (2.5 minutes on two shared cores); ``--keep PATH`` keeps the file and reuses
it. ``--preset veryfast`` makes a file with B-frames (slower to encode), where the
frames before the one asked for skip their non-reference B-frames.

summary   Workspace.summarize (sandbox, pinning, format choice, VideoSummary)  vs
          PyAV open + stream facts, nothing else                          (target <= 50 ms)
preview   Workspace.preview_image(selection="t=300s"): seek to the keyframe before
          frame 7200, decode forward to it, PNG (max side 512)             (target <= 300 ms)
          vs decoding from the start up to that frame (what a reader without
          seeking does). "worst" is the frame just before the next keyframe
          (249 frames of lead), the most a preview of this file ever decodes.

    python bench/video.py [--runs 15] [--minutes 10] [--preset ultrafast] [--keep PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import av

from io_core import Workspace

FPS, GOP, W, H = 24, 250, 1920, 1080


def make_video(path: Path, seconds: int, preset: str = "ultrafast") -> float:
    """Encode the test video (under a temporary name, renamed when whole); returns the seconds it took."""
    start = time.perf_counter()
    final, path = path, path.with_name(path.name + ".part.mp4")
    video_src = av.open(f"testsrc2=size={W}x{H}:rate={FPS}:duration={seconds}", format="lavfi")
    audio_src = av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi")
    audio_frames = audio_src.decode(audio=0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": preset, "crf": "30"})
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.gop_size = GOP
        audio = out.add_stream("aac", rate=48000)
        audio_t = 0.0
        for i, frame in enumerate(video_src.decode(video=0)):
            frame.pts = None
            frame.pict_type = av.video.frame.PictureType.NONE  # lavfi marks every frame I: x264 would obey
            for packet in video.encode(frame):
                out.mux(packet)
            while audio_t <= i / FPS:  # interleave: audio up to this frame's time
                chunk = next(audio_frames, None)
                if chunk is None:
                    audio_t = float("inf")
                    break
                audio_t += chunk.samples / chunk.sample_rate
                chunk.pts = None
                for packet in audio.encode(chunk):
                    out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    video_src.close()
    audio_src.close()
    path.rename(final)
    return time.perf_counter() - start


def median_ms(fn, runs: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU: this process, all threads; what a busy machine does not inflate)."""
    fn()  # warm (imports, page cache)
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def pyav_probe(path: Path) -> tuple:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames, stream.average_rate, stream.codec_context.width, container.duration


def decode_from_start(path: Path, index: int) -> None:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                frame.to_image()
                return
    raise RuntimeError(f"frame {index} not reached")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs of each fast operation (median) [15]")
    ap.add_argument("--minutes", type=float, default=10, help="length of the test video [10]")
    ap.add_argument("--preset", default="ultrafast", help="x264 preset of the test video [ultrafast]")
    ap.add_argument("--keep", type=Path, help="keep the video here (reused when it exists)")
    args = ap.parse_args()
    seconds = int(args.minutes * 60)
    with tempfile.TemporaryDirectory(prefix="sciio-bench-video-", dir=REPO.parent) as tmp:
        path = args.keep.resolve() if args.keep else Path(tmp) / "ten_minutes.mp4"
        if path.exists():
            print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
        else:
            took = make_video(path, seconds, args.preset)
            print(f"encoded {seconds * FPS} frames of {W}x{H} in {took:.1f} s ({path.stat().st_size / 1e6:.0f} MB)",
                  file=sys.stderr)
        ws = Workspace([path.parent])
        summary = ws.summarize(path.name).summary
        assert summary.kind == "video" and summary.width == W and len(summary.streams) == 2, summary
        middle = summary.frames // 2
        worst = (middle // GOP + 1) * GOP - 1  # just before the next keyframe: the longest lead in the middle
        rows = [
            ("summary (Workspace.summarize)", median_ms(lambda: ws.summarize(path.name), args.runs), 50),
            ("summary: PyAV open + stream facts", median_ms(lambda: pyav_probe(path), args.runs), None),
        ]
        for label, index in ((f"middle frame {middle} (t={middle / FPS:g}s)", middle), (f"worst frame {worst}", worst)):
            sel = f"t={index / FPS}s" if index == middle else str(index)
            png, caption = ws.preview_image(path.name, selection=sel)
            assert caption["width"] == W and png.startswith(b"\x89PNG")
            rows.append((f"preview {label}", median_ms(lambda s=sel: ws.preview_image(path.name, selection=s),
                                                       max(3, args.runs // 3)), 300))
            rows.append((f"  decode from the start to frame {index}", median_ms(lambda i=index: decode_from_start(path, i), 1),
                         None))
        keyframe = middle // GOP * GOP  # nothing to decode on the way: the fixed cost (one I-frame, RGB, PNG)
        rows.append((f"preview keyframe {keyframe} (fixed cost)", median_ms(
            lambda: ws.preview_image(path.name, selection=str(keyframe)), max(3, args.runs // 3)), None))
        load = os.getloadavg()[0]
    print(f"\nvideo: {seconds / 60:g} min, {W}x{H}, {FPS} fps, {summary.frames} frames, GOP {GOP}, "
          f"{summary.codec}; load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'operation':<52} {'wall ms':>9} {'CPU ms':>8}  target (wall)")
    for label, (ms, cpu), target in rows:
        verdict = "" if target is None else (f"<= {target}" + (" ok" if ms <= target else " MISSED"))
        print(f"{label:<52} {ms:>9.1f} {cpu:>8.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
