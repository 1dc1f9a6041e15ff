"""Writing `.rec/.idx/.meta.json` archives (pure Python, no MXNet needed).

The byte format is dmlc RecordIO as MXNet reads it: each record is
``magic, lrec, payload, zero padding to 4 bytes`` where ``lrec = cflag << 29 |
length``.  A payload that contains the magic word at a 4-byte aligned offset
is split into parts (cflag 1, 2, 3) exactly as dmlc's writer does, so
``mx.recordio`` and ``ImageRecordIter`` read every record back.

The payload is an image record: ``IRHeader(flag=len(label), label=0, id=key,
id2=0)`` packed as ``'IfQQ'``, the float32 label vector, the encoded image.
"""
import os
import struct
import time

import numpy as np

from .schema import FORMAT_VERSION, PROJECT_VERSION, archive_paths, write_meta

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_IR_FORMAT = "IfQQ"
IR_HEADER_SIZE = struct.calcsize(_IR_FORMAT)
MAX_RECORD = 1 << 29  # the 29-bit length field of lrec


def pack_header(label, key, id2=0):
    """Bytes of an IRHeader followed by the float32 label vector."""
    label = np.asarray(label, dtype=np.float32).ravel()
    return struct.pack(_IR_FORMAT, label.size, 0.0, key, id2) + label.tobytes()


def unpack_header(payload):
    """Inverse of ``pack_header``: (flag, label array, id, id2, image bytes)."""
    flag, scalar, rid, id2 = struct.unpack_from(_IR_FORMAT, payload, 0)
    off = IR_HEADER_SIZE
    if flag > 0:
        label = np.frombuffer(payload, dtype=np.float32, count=flag, offset=off)
        off += 4 * flag
    else:
        label = np.array([scalar], dtype=np.float32)
    return flag, label, rid, id2, payload[off:]


def frame_record(payload):
    """The on-disk bytes of one RecordIO record."""
    n = len(payload)
    if n >= MAX_RECORD:
        raise ValueError("record of %d bytes exceeds RecordIO's limit of %d" % (n, MAX_RECORD))
    parts = []
    start = 0
    pos = payload.find(_MAGIC_BYTES)
    while pos != -1 and pos + 4 <= (n // 4) * 4:
        if pos % 4 == 0:
            cflag = 1 if start == 0 else 2
            parts.append(_MAGIC_BYTES + struct.pack("<I", (cflag << 29) | (pos - start)) + payload[start:pos])
            start = pos + 4
            pos = payload.find(_MAGIC_BYTES, start)
        else:
            pos = payload.find(_MAGIC_BYTES, pos + 1)
    cflag = 3 if start != 0 else 0
    parts.append(_MAGIC_BYTES + struct.pack("<I", (cflag << 29) | (n - start)) + payload[start:])
    parts.append(b"\0" * ((-n) % 4))
    return b"".join(parts)


def encode_image(image, fmt="jpg", quality=95):
    """Encode an HxW or HxWx3 (BGR) uint8 image with OpenCV."""
    import cv2
    ext = "." + fmt.lower().lstrip(".")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext in (".jpg", ".jpeg") else \
        [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError("OpenCV could not encode an image of shape %s as %s" % (image.shape, fmt))
    return buf.tobytes()


class ArchiveWriter:
    """Write one archive: records go to ``<prefix>.rec``, offsets to ``.idx``.

    Files are written under temporary names and renamed on ``close``, so an
    interrupted run never leaves an archive that looks complete.

    Parameters
    ----------
    prefix : path without extension.
    meta : dict of metadata (task, schema, label_layout, image, tiles, source,
        args ...); ``close`` adds format and project versions and the counts.
    """

    def __init__(self, prefix, meta):
        self.rec_path, self.idx_path, self.meta_path = archive_paths(prefix)
        self.prefix = self.rec_path[:-4]
        os.makedirs(os.path.dirname(os.path.abspath(self.rec_path)), exist_ok=True)
        self.meta = dict(meta)
        self.layout = self.meta.pop("label_layout_obj", None)
        if self.layout is not None:
            self.meta["label_layout"] = self.layout.to_meta()
        self._rec = open(self.rec_path + ".part", "wb")
        self._idx = open(self.idx_path + ".part", "w")
        self.count = 0
        self.sources = []
        self._closed = False

    def write(self, label, image_bytes, source=None):
        """Append one record; returns its key (0, 1, 2 ...)."""
        label = np.asarray(label, dtype=np.float32).ravel()
        if self.layout is not None and not self.layout.fits(label.size):
            raise ValueError("label has %d floats, the layout %d" % (label.size, self.layout.width))
        key = self.count
        self._idx.write("%d\t%d\n" % (key, self._rec.tell()))
        self._rec.write(frame_record(pack_header(label, key) + image_bytes))
        self.sources.append(source)
        self.count += 1
        return key

    def close(self, rejected=0, extra_counts=None):
        if self._closed:
            return
        self._rec.close()
        self._idx.close()
        os.replace(self.rec_path + ".part", self.rec_path)
        os.replace(self.idx_path + ".part", self.idx_path)
        counts = {"written": self.count, "rejected": int(rejected)}
        counts.update(extra_counts or {})
        self.meta.update({
            "format_version": FORMAT_VERSION,
            "project_version": PROJECT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": counts,
            "sources": self.sources,
        })
        write_meta(self.prefix, self.meta)
        self._closed = True

    def abort(self):
        """Close and delete the partial files."""
        for f in (self._rec, self._idx):
            f.close()
        for p in (self.rec_path + ".part", self.idx_path + ".part"):
            if os.path.exists(p):
                os.remove(p)
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
