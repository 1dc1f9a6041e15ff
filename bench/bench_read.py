"""Reading speed: the training loader (RecordDataset + the full train augmentation, whole batches per worker,
``train.loop.train_loader``) against raw cv2.imdecode of the same records on all cores, against
mx.io.ImageRecordIter (MXNet's C++ reader, decode only, no label-aware augmentation), and against a plain
Gluon DataLoader calling the transform per sample; on records stored at the network's 112 px and at 256 px
(decoded scaled down).

    python bench/bench_read.py [--epochs 2] [--batch_size 64] [--sizes 112,256]
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


def measure(prefix, args):
    """{row: samples/s} for the archive ``prefix``."""
    import mxnet as mx

    from recordio.dataset import RecordDataset
    from recordio.transforms import LandmarkTransform
    from train.loop import train_loader
    tf = LandmarkTransform("course21", 112, 3, train=True)
    ds = RecordDataset(prefix, transform=tf, seed=(0, 0))
    n = len(ds) * args.epochs
    rates = {}

    def timed(batches):
        t, seen = time.perf_counter(), 0
        for data, _ in batches:
            data.wait_to_read()
            seen += data.shape[0]
        return seen / (time.perf_counter() - t)

    loader = train_loader(ds, args.batch_size, args.workers, (0, 0), len(ds) // args.batch_size)
    rates["ours"] = timed(b for _ in range(args.epochs) for b in loader)
    plain = mx.gluon.data.DataLoader(RecordDataset(prefix, transform=tf), batch_size=args.batch_size, shuffle=True,
                                     num_workers=args.workers, last_batch="discard")
    rates["per_sample"] = timed(b for _ in range(args.epochs) for b in plain)

    chunks = [(prefix, s, min(s + 256, len(ds))) for s in range(0, len(ds), 256)] * args.epochs
    t = time.perf_counter()
    with mp.get_context("fork").Pool(args.workers) as pool:
        sum(pool.map(_decode_range, chunks))
    rates["raw"] = n / (time.perf_counter() - t)

    it = mx.io.ImageRecordIter(path_imgrec=prefix + ".rec", path_imgidx=prefix + ".idx", data_shape=(3, 112, 112),
                               label_width=ds.layout.width, batch_size=args.batch_size, shuffle=True,
                               preprocess_threads=args.workers)
    t, seen = time.perf_counter(), 0
    for _ in range(args.epochs):
        it.reset()
        for b in it:
            b.data[0].wait_to_read()
            seen += args.batch_size - b.pad
    rates["recordio"] = seen / (time.perf_counter() - t)
    return rates, n, len(ds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--sizes", default="112,256", help="record sides to pack and read, px")
    args = ap.parse_args(argv)
    from tools import make_rec
    work = tempfile.mkdtemp(prefix="bench_read_")
    try:
        src = course21_folder(work, 1500, args.workers)
        results = []
        for size in [int(v) for v in args.sizes.split(",")]:
            out = os.path.join(work, "rec%d" % size)
            make_rec.main(["course21", src, "--out", out, "--test_ratio", "0", "--size", str(size), "-j",
                           str(args.workers)])
            results.append((size,) + measure(os.path.join(out, "train"), args))
        for size, rates, n, length in results:
            print("records of %d px, read into 112 px crops: %d samples (%d epochs of %d) with %d workers"
                  % (size, n, args.epochs, length, args.workers))
            print("  training loader (whole batches, full augmentation) : %8.1f samples/s" % rates["ours"])
            print("  Gluon DataLoader, transform per sample              : %8.1f samples/s" % rates["per_sample"])
            print("  raw cv2.imdecode of the same records                : %8.1f samples/s" % rates["raw"])
            print("  mx.io.ImageRecordIter (decode only)                 : %8.1f samples/s" % rates["recordio"])
            print("  ratio loader / raw decode = %.2f, loader / ImageRecordIter = %.2f, loader / per sample = %.2f"
                  % (rates["ours"] / rates["raw"], rates["ours"] / rates["recordio"],
                     rates["ours"] / rates["per_sample"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
