"""Packing speed: make_rec against MXNet's own im2rec.py on the same photos, side by side.

Faces come from ../shared/data/course21/I when present, else from synthetic course21 photos.
im2rec packs one record per face (the photo resized to --resize 112, with the 46 label floats via
--pack-label); make_rec also expands, clips and crops each face box and writes the meta, so it
does more work per face.  Both use every core.

    python bench/bench_pack.py [--faces N]
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import course21_folder  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", type=int, default=1593, help="faces to pack (course21 folder I has 1593)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    import mxnet
    from recordio import labelfiles
    from tools import make_rec
    work = tempfile.mkdtemp(prefix="bench_pack_")
    try:
        src = course21_folder(work, args.faces, args.jobs)
        entries, _ = labelfiles.read_course21(os.path.join(src, "label.txt"))
        entries = entries[: args.faces]
        d = os.path.join(work, "in")
        os.makedirs(d)
        with open(os.path.join(src, "label.txt")) as f:
            lines = [l for l in f if l.strip()][: len(entries)]
        open(os.path.join(d, "label.txt"), "w").writelines(lines)
        for e in {e.image for e in entries}:
            os.symlink(os.path.abspath(os.path.join(src, e)), os.path.join(d, e))
        n = len(entries)

        t = time.perf_counter()
        make_rec.main(["course21", d, "--out", os.path.join(work, "ours"), "--jobs", str(args.jobs),
                       "--neg_ratio", "0", "--test_ratio", "0"])
        ours = time.perf_counter() - t

        lst = os.path.join(work, "theirs.lst")
        with open(lst, "w") as f:
            for i, e in enumerate(entries):
                vals = list(e.box) + list(e.points.ravel())
                f.write("%d\t%s\t%s\n" % (i, "\t".join("%.4f" % v for v in vals), e.image))
        im2rec = os.path.join(os.path.dirname(mxnet.__file__), "tools", "im2rec.py")
        t = time.perf_counter()
        subprocess.run([sys.executable, im2rec, os.path.join(work, "theirs"), d, "--pack-label", "--resize", "112",
                        "--num-thread", str(args.jobs), "--quality", "95"], check=True, capture_output=True)
        theirs = time.perf_counter() - t
        print("packing %d faces on %d cores" % (n, args.jobs))
        print("  make_rec course21 : %7.1f faces/s (%.2f s)" % (n / ours, ours))
        print("  mxnet im2rec.py   : %7.1f faces/s (%.2f s)" % (n / theirs, theirs))
        print("  ratio make_rec / im2rec = %.2f" % (theirs / ours))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
