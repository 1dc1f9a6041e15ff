"""Whole-file checks of encoded photos: a photo cut short or corrupt is named, never used as if whole.

A JPEG cut short still decodes: libjpeg fills the missing rows with grey and only prints a warning
on stderr.  So decoding alone cannot tell a whole photo from a partial one.  ``structure_problem``
walks the file: a JPEG's segments up to its end-of-image marker (FFD9), a PNG's chunks (each CRC
checked) up to IEND.  ``decode`` also turns what the decoder prints on stderr ("Corrupt JPEG data",
"Premature end of JPEG file", libpng errors) into a problem.  Every problem is a sentence that says
what is wrong; callers add the file name.
"""
import os
import struct
import tempfile
import zlib

import numpy as np

from recordio.errors import UserError

JPEG_SOI = b"\xff\xd8"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# decoder messages that mean the pixels are not the photo's (libjpeg warnings, libpng errors)
DECODER_WARNINGS = ("Corrupt JPEG data", "Premature end of JPEG", "libpng error", "libpng warning: ",
                    "Invalid SOS", "Bogus marker", "JPEG datastream contains no image", "Not a JPEG file")


class ImageProblem(UserError, ValueError):
    """A photo that is missing, cut short or corrupt; the message names the file and says why."""


def _jpeg_problem(b):
    n = len(b)
    i = 2
    while True:
        if i >= n:
            return "JPEG cut short: the file ends after %d bytes without its end-of-image marker (FFD9)" % n
        if b[i] != 0xFF:
            return "corrupt JPEG: no segment marker at byte %d" % i
        while i < n and b[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= n:
            continue
        marker = b[i]
        i += 1
        if marker == 0xD9:
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM and RSTn stand alone
            continue
        if i + 2 > n:
            i = n
            continue
        length = (b[i] << 8) | b[i + 1]
        if length < 2:
            return "corrupt JPEG: segment FF%02X at byte %d has length %d" % (marker, i - 2, length)
        if i + length > n:
            i = n
            continue
        i += length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next real marker
            while True:
                j = b.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    i = n
                    break
                nxt = b[j + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:  # stuffed byte or restart marker
                    i = j + 2
                elif nxt == 0xFF:
                    i = j + 1
                else:
                    i = j
                    break


def _png_problem(b):
    n = len(b)
    i = len(PNG_SIGNATURE)
    while True:
        if i + 8 > n:
            return "PNG cut short: the file ends after %d bytes without its IEND chunk" % n
        length, kind = struct.unpack(">I4s", b[i:i + 8])
        end = i + 8 + length + 4
        if end > n:
            return "PNG cut short: chunk %r at byte %d needs %d bytes, the file ends after %d" % (
                kind.decode("latin-1"), i, length + 12, n)
        crc = struct.unpack(">I", b[end - 4:end])[0]
        if zlib.crc32(b[i + 4:end - 4]) & 0xFFFFFFFF != crc:
            return "corrupt PNG: chunk %r at byte %d fails its CRC" % (kind.decode("latin-1"), i)
        if kind == b"IEND":
            return None
        i = end


def structure_problem(data):
    """Why an encoded JPEG or PNG is not whole (a sentence), or None; other formats are not checked here."""
    b = bytes(data)
    if b.startswith(JPEG_SOI):
        return _jpeg_problem(b)
    if b.startswith(PNG_SIGNATURE):
        return _png_problem(b)
    return None


class _StderrCapture:
    """Collects what C libraries write to file descriptor 2 while active (one temporary file per process)."""

    _file = None
    _pid = None

    def __enter__(self):
        cls = type(self)
        if cls._file is None or cls._pid != os.getpid():
            cls._file = tempfile.TemporaryFile(mode="w+b")
            cls._pid = os.getpid()
        self._saved = os.dup(2)
        cls._file.seek(0)
        cls._file.truncate()
        os.dup2(cls._file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        f = type(self)._file
        f.seek(0)
        self.text = f.read().decode("utf-8", "replace")
        other = "".join(line + "\n" for line in self.text.splitlines()
                        if line.strip() and not any(w in line for w in DECODER_WARNINGS))
        if other:  # not ours to swallow
            os.write(2, other.encode())
        return False


def decode(data, flags=None):
    """Decode an encoded photo with the pinned OpenCV; returns (image or None, problem sentence or None).

    The image is None when there is a problem: a structure problem, a decoder warning, or bytes that
    do not decode at all.
    """
    import cv2
    if flags is None:
        flags = cv2.IMREAD_COLOR
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        return None, "empty file"
    problem = structure_problem(buf)
    if problem:
        return None, problem
    with _StderrCapture() as cap:
        img = cv2.imdecode(buf, flags)
    if img is None:
        return None, "cannot be decoded (corrupt or not an image)"
    warnings = [line.strip() for line in cap.text.splitlines() if any(w in line for w in DECODER_WARNINGS)]
    if warnings:
        return None, "the decoder reports damage: %s" % "; ".join(warnings)
    return img, None


def read(path, flags=None):
    """Read a whole, undamaged photo or raise ``ImageProblem`` naming ``path`` and saying why."""
    if not os.path.isfile(path):
        raise ImageProblem("image not found: %s" % path)
    img, problem = decode(np.fromfile(path, dtype=np.uint8), flags)
    if problem:
        raise ImageProblem("%s: %s" % (path, problem))
    return img
