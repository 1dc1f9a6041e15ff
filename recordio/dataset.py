"""Reading archives: a validating record reader and a Gluon ``Dataset``.

Images are decoded with the pinned opencv-python (``cv2.imdecode``), never by
the OpenCV bundled inside libmxnet.  Each process opens its own file handle,
so a ``DataLoader`` with worker processes is safe.
"""
import os
import struct

import numpy as np

from .schema import ArchiveError, archive_paths, read_meta
from .writer import MAGIC, unpack_header


class ArchiveReader:
    """Random access to the records of one archive.

    Parameters
    ----------
    prefix : archive path without extension (``.rec``/``.idx``/``.meta.json`` accepted).
    part_index, num_parts : read only records ``key % num_parts == part_index``
        (a shard per worker in distributed training).
    """

    def __init__(self, prefix, part_index=0, num_parts=1):
        self.rec_path, self.idx_path, self.meta_path = archive_paths(prefix)
        self.meta = read_meta(self.rec_path)
        self.layout = self.meta["_layout"]
        if not os.path.exists(self.rec_path):
            raise ArchiveError("%s: record file not found" % self.rec_path)
        self._size = os.path.getsize(self.rec_path)
        self.offsets = self._read_index()
        if not 0 <= part_index < num_parts:
            raise ValueError("part_index %d not in [0, %d)" % (part_index, num_parts))
        self.keys = np.arange(part_index, len(self.offsets), num_parts)
        self._fh = None
        self._pid = None

    def _read_index(self):
        try:
            with open(self.idx_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise ArchiveError("%s: index file not found" % self.idx_path)
        offsets = []
        for n, line in enumerate(lines, 1):
            parts = line.split("\t")
            try:
                key, off = int(parts[0]), int(parts[1])
            except (ValueError, IndexError):
                raise ArchiveError("%s:%d: malformed index line %r" % (self.idx_path, n, line))
            if key != n - 1:
                raise ArchiveError("%s:%d: key %d, expected contiguous keys 0..N-1" % (self.idx_path, n, key))
            if not 0 <= off < self._size:
                raise ArchiveError("%s:%d: record %d starts at byte %d but %s has %d bytes (truncated?)"
                                   % (self.idx_path, n, key, off, self.rec_path, self._size))
            offsets.append(off)
        expected = self.meta["counts"].get("written")
        if expected is not None and expected != len(offsets):
            raise ArchiveError("%s: %d records indexed but meta.json says %d were written"
                               % (self.idx_path, len(offsets), expected))
        return offsets

    def __len__(self):
        return len(self.keys)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fh"] = None
        state["_pid"] = None
        return state

    def _file(self):
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.rec_path, "rb")
            self._pid = os.getpid()
        return self._fh

    def read_payload(self, key):
        """The raw payload (IRHeader + label + image bytes) of record ``key``."""
        f = self._file()
        f.seek(self.offsets[key])
        chunks = []
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise ArchiveError("%s: record %d is truncated (file ends at byte %d)"
                                   % (self.rec_path, key, self._size))
            magic, lrec = struct.unpack("<II", head)
            if magic != MAGIC:
                raise ArchiveError("%s: record %d: bad magic at byte %d (corrupt archive or wrong .idx)"
                                   % (self.rec_path, key, f.tell() - 8))
            cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
            data = f.read(length)
            if len(data) < length:
                raise ArchiveError("%s: record %d is truncated (needs %d bytes, file ends at byte %d)"
                                   % (self.rec_path, key, length, self._size))
            chunks.append(data)
            if cflag in (0, 3):
                break
            chunks.append(struct.pack("<I", MAGIC))
            f.seek((-length) % 4, 1)
        return b"".join(chunks)

    def read(self, i, decode=True):
        """Sample ``i`` of this shard: (image, label float32 vector).

        ``image`` is HxWx3 BGR or HxW gray uint8 (as stored) when ``decode``,
        else the encoded bytes.
        """
        key = int(self.keys[i])
        payload = self.read_payload(key)
        try:
            flag, label, rid, _, img_bytes = unpack_header(payload)
        except struct.error:
            raise ArchiveError("%s: record %d has no complete IRHeader" % (self.rec_path, key))
        if not self.layout.fits(flag):
            raise ArchiveError("%s: record %d has a %d-float label, meta.json's layout has %d%s"
                               % (self.rec_path, key, flag, self.layout.width,
                                  " and rows of %d" % self.layout.row if self.layout.row else ""))
        if not decode:
            return img_bytes, label.copy()
        return decode_image(img_bytes, self.meta["image"].get("channels", 3), self.rec_path, key), label.copy()


def decode_image(img_bytes, channels, path="<memory>", key=-1):
    import cv2
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(img_bytes, dtype=np.uint8), flag)
    if img is None:
        raise ArchiveError("%s: record %d: image bytes do not decode (corrupt record)" % (path, key))
    return img


def _record_dataset():
    """``RecordDataset``, made on first use so that readers that never train (the inspector, the scorer's
    reader) do not load MXNet."""
    from mxnet.gluon.data import Dataset

    class RecordDataset(Dataset):
        """A ``gluon.data.Dataset`` over one archive.

        Each item is ``(image, label)``: image HxWxC uint8 numpy (BGR, or C=1 gray), label the float32
        vector whose fields ``self.layout`` names.  ``transform`` (optional) maps ``(image, label[, rng])``
        to anything.  With ``seed`` (a tuple of ints) item ``k`` is sample ``k % len`` of epoch ``k // len``
        (``train.loop.EpochBatches``) and its transform draws from its own stream, seeded by (seed, epoch,
        sample): the same seed gives the same augmentation whichever loader worker reads it.
        """

        def __init__(self, prefix, transform=None, part_index=0, num_parts=1, seed=None):
            self.reader = ArchiveReader(prefix, part_index, num_parts)
            self.meta = self.reader.meta
            self.layout = self.reader.layout
            self._transform = transform
            self.seed = None if seed is None else tuple(int(v) for v in np.ravel(seed))

        def __len__(self):
            return len(self.reader)

        def __getitem__(self, k):
            epoch, i = divmod(int(k), len(self))
            img, label = self.reader.read(i)
            if img.ndim == 2:
                img = img[:, :, None]
            if self._transform is None:
                return img, label
            if self.seed is None:
                return self._transform(img, label)
            return self._transform(img, label, np.random.default_rng([*self.seed, epoch, i]))

        def labels(self):
            """All labels of this shard, (N, width), read without decoding images (fixed-width layouts)."""
            return np.stack([self.reader.read(i, decode=False)[1] for i in range(len(self))]) \
                if len(self) else np.zeros((0, self.layout.width), np.float32)

    RecordDataset.__qualname__ = "RecordDataset"  # pickles as recordio.dataset.RecordDataset
    RecordDataset.__module__ = __name__
    return RecordDataset


def __getattr__(name):
    if name == "RecordDataset":
        cls = _record_dataset()
        globals()["RecordDataset"] = cls
        return cls
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def mean_shape(reader):
    """Mean landmark shape of the faces of an archive (an ArchiveReader), as shares of the crop side (K, 2)."""
    L = reader.layout
    size = np.array([reader.meta["image"]["width"], reader.meta["image"]["height"]], float)
    shapes = [L.get(lab, "points").reshape(-1, 2) / size
              for lab in (reader.read(i, decode=False)[1] for i in range(len(reader)))
              if L.get(lab, "face")[0] > 0.5]
    if not shapes:
        raise ArchiveError("%s holds no face to average" % reader.rec_path)
    return np.mean(shapes, axis=0)
