"""Print an archive's metadata and label statistics; optionally dump drawn samples.

Examples
--------
python tools/inspect_rec.py out/course21/train
python tools/inspect_rec.py out/mc4/train --dump 16 out/look
"""
import argparse
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from recordio import geometry  # noqa: E402
from recordio.cli import renamed  # noqa: E402
from recordio.dataset import ArchiveReader  # noqa: E402
from recordio.schema import archive_tiles, gaze_dataset  # noqa: E402


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archive", help="archive prefix (or its .rec/.idx/.meta.json)")
    ap.add_argument("--dump", nargs=2, metavar=("N", "DIR"), help="write N images with labels drawn to DIR")
    ap.add_argument("--enlarge", type=float, default=3.0, help="enlarge dumped images by this factor for viewing")
    renamed(ap, "--scale", "--enlarge")
    return ap.parse_args(argv)


def summarise(reader):
    meta = reader.meta
    lines = ["%s" % reader.rec_path,
             "  task %s, source %s, schema %s" % (meta["task"], meta.get("source_format"), meta.get("schema")),
             "  image %s" % {k: v for k, v in meta["image"].items()},
             "  counts %s" % meta["counts"],
             "  records %d, label width %d" % (len(reader), reader.layout.width)]
    labels = np.stack([reader.read(i, decode=False)[1] for i in range(len(reader))]) if len(reader) else None
    for f in reader.layout.fields:
        if labels is None:
            break
        v = reader.layout.get(labels, f.name)
        lines.append("  %-12s %3d x %-6s min %9.3f  mean %9.3f  max %9.3f" % (f.name, f.length, f.unit, v.min(),
                                                                             v.mean(), v.max()))
    if meta.get("tiles"):
        lines.append("  tiles %s" % ", ".join("%s(%d,%d %dx%d)" % (t["name"], t["x"], t["y"], t["w"], t["h"])
                                              for t in meta["tiles"]))
    return "\n".join(lines)


def draw(image, label, reader, scale=3.0):
    """The sample enlarged with its label drawn: points (landmarks) or gaze arrows (gaze)."""
    layout, meta = reader.layout, reader.meta
    img = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    if "points" in layout:
        face = layout.get(label, "face")[0] > 0.5 if "face" in layout else True
        if face:
            geometry.draw_points(img, layout.get(label, "points").reshape(-1, 2) * scale, (0, 255, 0))
        else:
            cv2.putText(img, "non-face", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1, cv2.LINE_AA)
    if "gaze_vector" in layout and layout.get(label, "has_label")[0] > 0.5:
        ds = gaze_dataset(meta["task"])
        tiles = archive_tiles(meta)
        for t in tiles:
            c = np.array([t["x"] + t["w"] / 2, t["y"] + t["h"] / 2]) * scale
            length = 0.4 * min(t["w"], t["h"]) * scale
            arrows = [(layout.get(label, "gaze_vector"), (0, 0, 255))]  # red: gaze
            if "head" in layout and t["name"] in ("head", tiles[0]["name"]) and len(tiles) <= 3:
                arrows.append((ds.to_vector(layout.get(label, "head")), (255, 128, 0)))  # blue: head
            for v, colour in arrows:
                tip = c + length * v[:2]
                cv2.arrowedLine(img, tuple(int(a) for a in c), tuple(int(a) for a in tip), colour, 2, cv2.LINE_AA)
    return img


def main(argv=None):
    args = parse_args(argv)
    reader = ArchiveReader(args.archive)
    print(summarise(reader))
    if args.dump:
        n, out = int(args.dump[0]), args.dump[1]
        os.makedirs(out, exist_ok=True)
        for i in range(min(n, len(reader))):
            img, label = reader.read(i)
            cv2.imwrite(os.path.join(out, "%06d.png" % i), draw(img, label, reader, args.enlarge))
        print("wrote %d images to %s" % (min(n, len(reader)), out))


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
