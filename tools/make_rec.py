"""Pack label files and images into RecordIO archives (.rec/.idx/.meta.json).

Examples
--------
python tools/make_rec.py course21 data/I data/II --out out/course21
python tools/make_rec.py detection data/I --out out/faces --test_ratio 0.2 --val_ratio 0.1
python tools/make_rec.py wflw list_98pt_rect_attr_train.txt --images WFLW_images --out out/wflw
python tools/make_rec.py pfld train_data/list.txt --out out/pfld
python tools/make_rec.py mc4 MC4/train --out out/mc4 --val_ratio 0.1 --seed 0
python tools/make_rec.py mc4 MC4/test --test --out out/mc4
python tools/make_rec.py coco test_wflw.json --images imgs --out out/coco
python tools/make_rec.py mpiifacegaze MPIIFaceGaze_normalized --out out/mpii
python tools/make_rec.py gaze360 gaze360 --out out/gaze360
python tools/make_rec.py gaze_photos ../shared/data/course21/I --dataset mpiifacegaze --out out/gaze_real
"""
import argparse
import logging
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.cli import renamed  # noqa: E402
from recordio.schema import WFLW_ATTRIBUTES  # noqa: E402


def _common(p, size):
    p.add_argument("--out", required=True, help="output folder; archives are OUT/<split>.rec/.idx/.meta.json")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: all cores)")
    p.add_argument("--encoding", choices=("jpg", "png"), default="jpg", help="image encoding of the records")
    renamed(p, "--format", "--encoding")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality")
    p.add_argument("--seed", type=int, default=0)
    if size:
        p.add_argument("--size", type=int, default=size, help="side of the stored face crops, px")


def _crop_args(p):
    p.add_argument("--margin", type=float, default=0.1,
                   help="crop = square around the face grown by this share of its size on each side")
    p.add_argument("--crop", choices=("landmarks", "box"), default="landmarks",
                   help="centre the crop on the landmarks (PFLD) or on the annotated face box")
    p.add_argument("--split", help="archive name (default: from the label file name: train, test or data)")
    p.add_argument("--val_ratio", type=float, default=0.0,
                   help="share of the photos (drawn with --seed) in a validation archive 'val' for picking epochs")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("course21", help="the 21-point course folders (label.txt + photos)")
    p.add_argument("dirs", nargs="+", help="folders like I and II, each with label.txt")
    _common(p, 112)
    p.add_argument("--test_ratio", type=float, default=0.2, help="share of photos (not faces) in the test split")
    p.add_argument("--val_ratio", type=float, default=0.0,
                   help="share of photos in a validation split for model selection (taken from the non-test "
                        "photos; the test split stays the same for the same seed)")
    p.add_argument("--neg_ratio", type=float, default=1.0, help="non-face crops per face of a photo")

    p = sub.add_parser("detection", help="face detection archives (gluoncv's format) from course21 folders")
    p.add_argument("dirs", nargs="+", help="folders like I and II, each with label.txt (photos split as course21's)")
    _common(p, 0)
    p.add_argument("--test_ratio", type=float, default=0.2, help="share of photos in the test split")
    p.add_argument("--val_ratio", type=float, default=0.0, help="share of photos in the validation split")
    p.add_argument("--max_side", type=int, default=640, help="photos larger than this are scaled down to it")

    p = sub.add_parser("wflw", help="WFLW raw annotations (207 tokens a line) and the images folder")
    p.add_argument("annotations", help="list_98pt_rect_attr_{train,test}.txt or a subset file")
    p.add_argument("--images", required=True, help="WFLW_images folder")
    renamed(p, "--annotations", "a positional argument: make_rec.py wflw ANNOTATIONS --images DIR")
    p.add_argument("--subset", choices=WFLW_ATTRIBUTES, help="keep only faces with this attribute (a test subset)")
    p.add_argument("--repeats", type=int, default=0, help="PFLD-style augmented copies per face (training)")
    p.add_argument("--rotate", type=float, default=30.0, help="max rotation of a repeat, degrees")
    p.add_argument("--zoom", type=float, default=0.1, help="max relative scale change of a repeat (1 +- zoom)")
    renamed(p, "--scale", "--zoom")
    p.add_argument("--shift", type=float, default=0.05, help="max shift of a repeat, share of the crop")
    _common(p, 112)
    _crop_args(p)

    p = sub.add_parser("pfld", help="PFLD list.txt (path, 196 normalised coordinates, 6 attributes, 3 angles)")
    p.add_argument("list")
    p.add_argument("--images", help="folder to look for images in when the list's paths do not resolve")
    p.add_argument("--split")
    _common(p, 112)

    p = sub.add_parser("coco", help="COCO-style keypoint JSON (mmpose)")
    p.add_argument("json")
    p.add_argument("--images", help="image folder (default: the JSON's folder)")
    p.add_argument("--schema", choices=("wflw98", "course21", "ibug68"), help="default: from the keypoint count")
    _common(p, 112)
    _crop_args(p)

    p = sub.add_parser("mc4", help="Momenta MC4 gaze: head/, l_eye/, r_eye/ and head/eye/gaze_label.txt")
    p.add_argument("dir")
    p.add_argument("--test", action="store_true", help="images only (no label files): pack for prediction")
    p.add_argument("--head_crop", type=int, default=224,
                   help="centre-crop the head image to this many px first, as the baseline does (its head images "
                        "carry a lot of background); 0 keeps the whole image")
    p.add_argument("--val_ratio", type=float, default=0.0,
                   help="share of the labelled records in a validation split (the baseline: 0.1 with seed 0)")
    p.add_argument("--head_size", type=int, default=224, help="side of the head tile, px")
    p.add_argument("--eye_size", type=int, default=112, help="side of each eye tile, px")
    p.add_argument("--split")
    _common(p, 0)

    p = sub.add_parser("mpiifacegaze", help="normalised MPIIFaceGaze: p00.mat .. p14.mat (one archive per person)")
    p.add_argument("dir")
    p.add_argument("--persons", help="comma-separated subset, e.g. p00,p01")
    _common(p, 224)

    p = sub.add_parser("gaze_photos", help="gaze archives cut from photos by the inference path: photos, landmark "
                       "labels and a gaze direction per face (JSON lines), in one gaze dataset's view")
    p.add_argument("dir", help="the photos' folder (with label.txt for course21)")
    p.add_argument("--labels", help="landmark label file (default DIR/label.txt)")
    p.add_argument("--label_format", default="course21", choices=("course21", "wflw"), help="the label file's format")
    p.add_argument("--gaze", help="gaze labels, JSON lines {line, gaze_vector} (default: gaze_reference.jsonl "
                   "beside the label file)")
    p.add_argument("--dataset", default="mpiifacegaze", choices=("mpiifacegaze", "mc4", "gaze360"),
                   help="whose view the faces are cut in (and whose label convention)")
    p.add_argument("--focal", type=float, help="camera focal length, px (default: the photo's width, as analyze.py)")
    p.add_argument("--max_outside", type=float, default=0.25,
                   help="reject a face whose view takes more than this share of its pixels from outside the photo")
    p.add_argument("--test_ratio", type=float, default=0.2, help="share of photos (not faces) in the test split")
    p.add_argument("--val_ratio", type=float, default=0.1, help="share of photos in the validation split")
    p.add_argument("--head_crop", type=int, default=224, help="MC4: the baseline's centre crop of the head view")
    p.add_argument("--head_size", type=int, default=224, help="MC4: side of the head tile, px")
    p.add_argument("--eye_size", type=int, default=112, help="MC4: side of each eye tile, px")
    _common(p, 112)

    p = sub.add_parser("gaze360", help="Gaze360: imgs/rec_XXX/head/<person>/<frame>.jpg and split files")
    p.add_argument("dir", help="the release folder (imgs/ and train.txt, validation.txt, test.txt)")
    p.add_argument("--splits", nargs="+", help="split files (default: those in DIR)")
    p.add_argument("--missing_frames", choices=("white", "reject"), default="white",
                   help="a frame of a sequence that is missing or unreadable: white (the source's loader: a white "
                        "image, counted as white_frames / white_centre_frames in the meta, each named in "
                        "SPLIT.notes.txt) or reject the sample")
    _common(p, 112)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from tools.packers import common, detection, gaze, gaze_photos, landmarks
    pack = {"detection": detection.pack_detection, "course21": landmarks.pack_course21, "wflw": landmarks.pack_wflw,
            "pfld": landmarks.pack_pfld,
            "coco": landmarks.pack_coco, "mc4": gaze.pack_mc4, "mpiifacegaze": gaze.pack_mpiifacegaze,
            "gaze360": gaze.pack_gaze360, "gaze_photos": gaze_photos.pack_gaze_photos}[args.command]
    for path in [getattr(args, a, None) for a in ("annotations", "list", "json", "dir")] + \
            list(getattr(args, "dirs", []) or []):
        if path and not os.path.exists(path):
            raise SystemExit("error: %s does not exist" % path)
    os.makedirs(args.out, exist_ok=True)
    summary, rejects = pack(args)
    print(common.print_summary(summary, rejects))
    return summary


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
