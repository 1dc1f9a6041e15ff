"""Reading speed: RecordDataset + train transform + DataLoader against raw cv2.imdecode of the same
records on all cores, and against mx.io.ImageRecordIter (decode only, no label-aware augmentation).

    python bench/bench_read.py [--epochs 2] [--batch_size 64]
"""
import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import course21_folder  # noqa: E402

_READER = {}


def _decode_range(args):
    prefix, start, stop = args
    import cv2
    import numpy as np
    from recordio.dataset import ArchiveReader
    r = _READER.get(prefix) or _READER.setdefault(prefix, ArchiveReader(prefix))
    for i in range(start, stop):
        data, _ = r.read(i, decode=False)
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return stop - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    import mxnet as mx
    from recordio.dataset import RecordDataset
    from recordio.transforms import LandmarkTransform
    from tools import make_rec
    work = tempfile.mkdtemp(prefix="bench_read_")
    try:
        src = course21_folder(work, 1500, args.workers)
        make_rec.main(["course21", src, "--out", os.path.join(work, "rec"), "--test_ratio", "0", "-j",
                       str(args.workers)])
        prefix = os.path.join(work, "rec", "train")
        ds = RecordDataset(prefix, transform=LandmarkTransform("course21", 112, 3, train=True))
        n = len(ds) * args.epochs

        loader = mx.gluon.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                                          last_batch="keep")
        t = time.perf_counter()
        for _ in range(args.epochs):
            for data, label in loader:
                data.wait_to_read()
        ours = n / (time.perf_counter() - t)

        chunks = [(prefix, s, min(s + 256, len(ds))) for s in range(0, len(ds), 256)] * args.epochs
        t = time.perf_counter()
        with mp.get_context("fork").Pool(args.workers) as pool:
            sum(pool.map(_decode_range, chunks))
        raw = n / (time.perf_counter() - t)

        it = mx.io.ImageRecordIter(path_imgrec=prefix + ".rec", path_imgidx=prefix + ".idx", data_shape=(3, 112, 112),
                                   label_width=ds.layout.width, batch_size=args.batch_size, shuffle=True,
                                   preprocess_threads=args.workers)
        t = time.perf_counter()
        seen = 0
        for _ in range(args.epochs):
            it.reset()
            for b in it:
                b.data[0].wait_to_read()
                seen += args.batch_size - b.pad
        recordio = seen / (time.perf_counter() - t)
        print("reading %d samples (%d epochs of %d) with %d workers" % (n, args.epochs, len(ds), args.workers))
        print("  RecordDataset + train transform + DataLoader : %8.1f samples/s" % ours)
        print("  raw cv2.imdecode of the same records         : %8.1f samples/s" % raw)
        print("  mx.io.ImageRecordIter (decode only)          : %8.1f samples/s" % recordio)
        print("  ratio ours / raw decode = %.2f, ours / ImageRecordIter = %.2f" % (ours / raw, ours / recordio))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
