"""Merge archives with the same task and label layout into one (e.g. leave-one-person-out folds).

    python tools/merge_rec.py OUT_PREFIX IN_PREFIX [IN_PREFIX ...]
"""
import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tqdm import tqdm  # noqa: E402

from recordio.dataset import ArchiveReader  # noqa: E402
from recordio.writer import ArchiveWriter  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("inputs", nargs="+")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    readers = [ArchiveReader(p) for p in args.inputs]
    first = readers[0]
    for r in readers[1:]:
        if r.meta["task"] != first.meta["task"] or r.layout != first.layout or r.meta["image"] != first.meta["image"]:
            raise SystemExit("error: %s does not match %s (task, label layout and image must agree)"
                             % (r.meta_path, first.meta_path))
    meta = {k: v for k, v in first.meta.items() if not k.startswith("_") and k not in ("counts", "sources")}
    meta["label_layout_obj"] = first.layout
    meta.pop("label_layout", None)
    meta["merged_from"] = [os.path.abspath(r.rec_path) for r in readers]
    with ArchiveWriter(args.out, meta) as w:
        for r in readers:
            sources = r.meta.get("sources") or [None] * len(r)
            for i in tqdm(range(len(r)), desc=os.path.basename(r.rec_path), unit="record", mininterval=0.5):
                data, label = r.read(i, decode=False)
                src = dict(sources[int(r.keys[i])] or {})
                src["archive"] = os.path.basename(r.rec_path)[:-4]
                w.write(label, data, src)
        w.close(rejected=0)
    print("%d records from %d archives -> %s.rec" % (w.count, len(readers), w.prefix))
    return w.count


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
