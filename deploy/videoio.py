"""Reading and writing video frames off the thread that analyses them.

``FrameReader`` decodes ahead on its own thread (OpenCV releases the GIL while it decodes, so decoding
overlaps the networks); from a camera it keeps only the newest frame, dropping those the analysis could not
keep up with rather than falling behind.  ``FrameWriter`` encodes on its own thread.
"""
import queue
import threading
import time

_END = object()


class Frame:
    """A frame as read: ``ok`` (decoded), ``image`` (BGR or None), ``index`` (its place in the stream, counting
    frames dropped before it), ``captured`` (``time.perf_counter()`` when it was read)."""

    __slots__ = ("ok", "image", "index", "captured")

    def __init__(self, ok, image, index, captured):
        self.ok, self.image, self.index, self.captured = ok, image, index, captured


class FrameReader:
    """The frames of an opened ``cv2.VideoCapture``, decoded on a thread.

    ``total``: the frames a file declares (0: unknown, or a camera); reading goes on past an undecodable frame
    while the file declares more, up to ``max_bad`` in a row, as the caller's loop does.  ``latest``: keep only
    the newest frame (a camera): a frame not taken before the next one arrives is dropped and counted in
    ``dropped``.  ``ahead``: frames decoded ahead otherwise."""

    def __init__(self, cap, total=0, latest=False, ahead=8, max_bad=25):
        self.cap, self.total, self.latest, self.max_bad = cap, total, latest, max_bad
        self.dropped = 0
        self._ended = False
        self._queue = queue.Queue(maxsize=1 if latest else ahead)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()

    def _put(self, item):
        if self.latest:
            with self._lock:  # the newest frame replaces one not yet taken
                try:
                    old = self._queue.get_nowait()
                    if old is not _END:
                        self.dropped += 1
                except queue.Empty:
                    pass
                self._queue.put_nowait(item)
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self):
        index, bad = 0, 0
        try:
            while not self._stop.is_set():
                ok, image = self.cap.read()
                ok = bool(ok) and image is not None
                self._put(Frame(ok, image if ok else None, index, time.perf_counter()))
                index += 1
                bad = 0 if ok else bad + 1
                if not ok and not (self.total and index < self.total and bad <= self.max_bad):
                    break
        finally:
            self._put_end()

    def _put_end(self):
        if self.latest:  # the end must not replace the last frame
            while not self._stop.is_set():
                with self._lock:
                    if self._queue.empty():
                        self._queue.put_nowait(_END)
                        return
                time.sleep(0.005)
            return
        self._put(_END)

    def read(self):
        """The next ``Frame``, or None once the stream has ended (or the reader was closed)."""
        if self._ended:
            return None
        item = self._queue.get()
        if item is _END:
            self._ended = True
            return None
        return item

    def close(self):
        """Stop reading (the capture is the caller's to release, after this)."""
        self._stop.set()
        self._ended = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)


class FrameWriter:
    """``write(image)`` hands frames to a ``cv2.VideoWriter`` running on a thread (in order); ``close()`` waits
    for them all and releases it.  An error of the writer is raised by the next ``write`` or by ``close``."""

    def __init__(self, writer, depth=8):
        self.writer = writer
        self._queue = queue.Queue(maxsize=depth)
        self._error = None
        self._thread = threading.Thread(target=self._run, name="frame-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            image = self._queue.get()
            if image is _END:
                return
            if self._error is None:
                try:
                    self.writer.write(image)
                except Exception as e:  # noqa: BLE001  (handed to the caller)
                    self._error = e

    def write(self, image):
        if self._error is not None:
            raise self._error
        self._queue.put(image)

    def close(self):
        self._queue.put(_END)
        self._thread.join()
        self.writer.release()
        if self._error is not None:
            raise self._error
