"""Frames read ahead on a thread (a camera's newest only, the others dropped) and written on a thread."""
import threading
import time

import numpy as np

from deploy.videoio import FrameReader, FrameWriter


class FakeCapture:
    """``read()`` gives frames whose pixels hold their number; ``bad`` numbers do not decode; after ``n`` frames
    every read fails.  ``delay``: seconds each read takes."""

    def __init__(self, n, bad=(), delay=0.0):
        self.n, self.bad, self.delay, self.reads = n, set(bad), delay, 0

    def read(self):
        time.sleep(self.delay)
        k = self.reads
        self.reads += 1
        if k >= self.n or k in self.bad:
            return False, None
        return True, np.full((2, 2, 3), k % 256, np.uint8)


def test_a_file_is_read_in_order_undecodable_frames_included_until_it_ends():
    reader = FrameReader(FakeCapture(10, bad=(3, 4)), total=10, ahead=3)
    got = []
    while True:
        f = reader.read()
        if f is None:
            break
        got.append((f.index, f.ok, None if f.image is None else int(f.image[0, 0, 0])))
    reader.close()
    want = [(k, k not in (3, 4), None if k in (3, 4) else k) for k in range(10)] + [(10, False, None)]
    assert got == want
    assert reader.read() is None  # the end stays the end


def test_a_file_that_fails_too_often_in_a_row_is_not_read_further():
    cap = FakeCapture(100, bad=range(5, 100))
    reader = FrameReader(cap, total=100, max_bad=3)
    frames = []
    while (f := reader.read()) is not None:
        frames.append(f)
    reader.close()
    assert [f.ok for f in frames] == [True] * 5 + [False] * 4 and cap.reads == 9


def test_a_camera_read_slower_than_it_captures_drops_frames_and_gives_the_newest():
    reader = FrameReader(FakeCapture(60, delay=0.002), latest=True)
    seen = []
    while (f := reader.read()) is not None and f.ok:  # the camera's failed read ends it
        seen.append(f.index)
        assert int(f.image[0, 0, 0]) == f.index
        time.sleep(0.02)  # the analysis is ten times slower than the camera
    reader.close()
    assert seen == sorted(seen) and len(seen) < 30 and seen[-1] >= 55
    assert reader.dropped == 60 - len(seen)  # every frame not taken was dropped


def test_frames_are_written_in_order_on_the_writer_thread():
    class Sink:
        def __init__(self):
            self.frames, self.threads, self.released = [], set(), False

        def write(self, image):
            time.sleep(0.001)
            self.frames.append(int(image[0, 0]))
            self.threads.add(threading.current_thread().name)

        def release(self):
            self.released = True

    sink = Sink()
    w = FrameWriter(sink, depth=2)
    for k in range(20):
        w.write(np.full((1, 1), k, np.uint8))
    w.close()
    assert sink.frames == list(range(20)) and sink.released and sink.threads == {"frame-writer"}


def test_a_camera_faster_than_the_analysis_drops_frames_and_the_summary_says_so(tmp_path, monkeypatch):
    """analyze.py --camera 0 with a 'camera' that delivers a rendered video as fast as it decodes: frames the
    analysis cannot keep up with are dropped, none is answered twice or out of order, and the summary gives
    the frames dropped and the latency from reading a frame to its answer."""
    import json

    import cv2

    from deploy import analyze, analyzer
    from tools.synth.formats import write_video
    write_video(str(tmp_path / "v"), 1, seed=3, frames=60)
    video = str(tmp_path / "v" / "video_000.mp4")
    real = cv2.VideoCapture
    monkeypatch.setattr(analyzer.cv2, "VideoCapture", lambda source: real(video if source == 0 else source))
    analyze.main(["--camera", "0", "--out", str(tmp_path / "o"), "--no_draw", "--detector", "dlib"])
    summary = json.load(open(tmp_path / "o" / "summary.json"))
    lines = [json.loads(x) for x in open(tmp_path / "o" / "results.jsonl")]
    frames = [x["frame"] for x in lines]
    assert frames == sorted(frames) and len(set((x["frame"], x["track"]) for x in lines)) == len(lines)
    assert summary["camera_frames_dropped"] > 0  # the analysis is slower than decoding
    assert len(set(frames)) + summary["camera_frames_dropped"] <= 61
    lat = summary["camera_latency_ms"]
    assert 0 < lat["median"] <= lat["p95"]
