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
        self._fds = {}  # process id -> its descriptor of the .rec file (a forked worker opens its own)
        self._end = None

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
        state["_fds"] = {}
        return state

    def _fd(self):
        """This process's descriptor of the .rec file (threads share it: reads are ``os.pread``)."""
        pid = os.getpid()
        fd = self._fds.get(pid)
        if fd is None:
            fd = os.open(self.rec_path, os.O_RDONLY)
            if self._fds.setdefault(pid, fd) != fd:  # another thread opened it first
                os.close(fd)
                fd = self._fds[pid]
        return fd

    def _ends(self):
        """Where each record's bytes end: the next record's start (records are read whole, in one call)."""
        if self._end is None:
            starts = np.asarray(self.offsets, np.int64)
            order = np.argsort(starts, kind="stable")
            ends = np.empty_like(starts)
            ends[order] = np.append(starts[order][1:], self._size)
            self._end = ends
        return self._end

    def read_payload(self, key):
        """The raw payload (IRHeader + label + image bytes) of record ``key``.  Reads with ``os.pread``: one
        reader serves several threads."""
        fd = self._fd()
        start = self.offsets[key]
        blob = os.pread(fd, int(self._ends()[key]) - start, start)
        chunks, pos = [], 0
        while True:
            if len(blob) < pos + 8:
                raise ArchiveError("%s: record %d is truncated (file ends at byte %d)"
                                   % (self.rec_path, key, self._size))
            magic, lrec = struct.unpack_from("<II", blob, pos)
            if magic != MAGIC:
                raise ArchiveError("%s: record %d: bad magic at byte %d (corrupt archive or wrong .idx)"
                                   % (self.rec_path, key, start + pos))
            cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
            if len(blob) < pos + 8 + length:
                raise ArchiveError("%s: record %d is truncated (needs %d bytes, file ends at byte %d)"
                                   % (self.rec_path, key, length, self._size))
            chunks.append(blob[pos + 8:pos + 8 + length])
            if cflag in (0, 3):
                break
            chunks.append(struct.pack("<I", MAGIC))
            pos += 8 + length + (-length) % 4
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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


_REDUCED = {(1, 2): "IMREAD_REDUCED_GRAYSCALE_2", (1, 4): "IMREAD_REDUCED_GRAYSCALE_4",
            (1, 8): "IMREAD_REDUCED_GRAYSCALE_8", (3, 2): "IMREAD_REDUCED_COLOR_2", (3, 4): "IMREAD_REDUCED_COLOR_4",
            (3, 8): "IMREAD_REDUCED_COLOR_8"}


def decode_image(img_bytes, channels, path="<memory>", key=-1, reduce=1):
    """Decode a record's image; ``reduce`` (2, 4 or 8): at that fraction of its size (JPEG's scaled decoding)."""
    import cv2
    if reduce > 1:
        flag = getattr(cv2, _REDUCED[(1 if channels == 1 else 3, reduce)])
    else:
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(img_bytes, dtype=np.uint8), flag)
    if img is None:
        raise ArchiveError("%s: record %d: image bytes do not decode (corrupt record)" % (path, key))
    return img


class Batch:
    """A whole batch read but not yet transformed (``RecordDataset.batch``): ``arrays(out)`` transforms it,
    writing the data straight into ``out`` (an (N, C, S, S) uint8 array, e.g. a view of the shared memory the
    loader hands over) when given."""

    def __init__(self, transform, images, labels, draws, sizes=None):
        self.transform, self.images, self.labels, self.draws, self.sizes = transform, images, labels, draws, sizes

    def __len__(self):
        return len(self.images)

    @property
    def shape(self):
        """The data's shape (N, C, S, S)."""
        return (len(self.images), self.transform.channels, self.transform.size, self.transform.size)

    def arrays(self, out=None):
        """(data (N, C, S, S) uint8, labels (N, width) float32)."""
        return self.transform.batch(self.images, self.labels, self.draws, out=out, sizes=self.sizes)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x):
    """SplitMix64's output function of uint64 states (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sample_uniforms(seed, epochs, indices, count):
    """(N, count) uniforms in [0, 1): the draws of samples ``indices`` (N,) in passes ``epochs`` (N,) of a
    dataset seeded with the ints ``seed``.  Each sample's row is a pure function of (seed, epoch, index): a
    SplitMix64 stream started from a hash of the three, computed for the whole batch at once."""
    with np.errstate(over="ignore"):
        h = np.zeros(len(indices), np.uint64)
        for word in [*(np.uint64(int(w) % (1 << 64)) for w in seed), np.asarray(epochs, np.int64).astype(np.uint64),
                     np.asarray(indices, np.int64).astype(np.uint64)]:
            h = _splitmix(h + word + _GOLDEN)
        steps = np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
        x = _splitmix(h[:, None] + steps[None, :])
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


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
            if isinstance(k, (tuple, list, np.ndarray)):  # a whole batch (``batch``)
                return self.batch(k)
            epoch, i = divmod(int(k), len(self))
            img, label = self.reader.read(i)
            if img.ndim == 2:
                img = img[:, :, None]
            if self._transform is None:
                return img, label
            if self.seed is None:
                return self._transform(img, label)
            return self._transform(img, label, np.random.default_rng([*self.seed, epoch, i]))

        def batch(self, keys):
            """Items ``keys`` at once.  With a transform that transforms batches (``transform.batch``): a
            ``Batch`` (its ``arrays()`` are (data, labels)), the sample draws of a seeded dataset from
            ``sample_uniforms``; otherwise the list of items."""
            keys = [int(k) for k in np.ravel(keys)]
            batched = getattr(self._transform, "batch", None)
            if batched is None:
                return [self[k] for k in keys]
            epochs, idx = np.divmod(np.asarray(keys, np.int64), max(1, len(self)))
            info = self.meta["image"]
            size = (info.get("width"), info.get("height"))
            reduce = getattr(self._transform, "decode_reduction", None)
            r = reduce(*size) if reduce and None not in size and info.get("encoding") == "jpg" else 1
            images, labels = [], []
            for i in idx:
                data, label = self.reader.read(int(i), decode=False)
                img = decode_image(data, info.get("channels", 3), self.reader.rec_path, int(i), reduce=r)
                images.append(img[:, :, None] if img.ndim == 2 else img)
                labels.append(label)
            u = None if self.seed is None else sample_uniforms(self.seed, epochs, idx, self._transform.draws)
            return Batch(self._transform, images, np.stack(labels), u, [size] * len(images) if r > 1 else None)

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
