"""Render synthetic faces with exact geometry in a dataset's native layout.

Examples
--------
python tools/make_synthetic.py wflw --num 500 --out data/synth_wflw
python tools/make_synthetic.py course21 --num 300 --out data/synth_course --contact_sheet sheet.png
python tools/make_synthetic.py mc4 --num 400 --out data/synth_mc4
python tools/make_synthetic.py mpiifacegaze --num 200 --persons 3 --out data/synth_mpii
python tools/make_synthetic.py gaze360 --num 60 --out data/synth_gaze360
python tools/make_synthetic.py video --num 4 --frames 150 --out data/synth_video
"""
import argparse
import logging
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FORMATS = ("wflw", "course21", "mc4", "mpiifacegaze", "gaze360", "video")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("format", choices=FORMATS)
    ap.add_argument("--num", type=int, required=True,
                    help="number of faces (mpiifacegaze: images per person; gaze360: recordings; video: videos)")
    ap.add_argument("--frames", type=int, default=100, help="video: frames per video (25 fps)")
    ap.add_argument("--persons", type=int, default=3, help="mpiifacegaze: number of person files")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--test_ratio", type=float, default=0.2, help="share of photos in the test split (wflw, mc4)")
    ap.add_argument("--yaw", type=float, help="max |yaw|, degrees (default 60)")
    ap.add_argument("--pitch", type=float, help="max |pitch|, degrees (default 30)")
    ap.add_argument("--roll", type=float, help="max |roll|, degrees (default 30)")
    ap.add_argument("--faces_per_photo", type=int, nargs=2, metavar=("MIN", "MAX"),
                    help="faces in a photo (default 1 3; course21 and wflw)")
    ap.add_argument("--head_frac", type=float, nargs=2, metavar=("MIN", "MAX"),
                    help="head height as a share of the photo height (default 0.2 0.75)")
    ap.add_argument("--truncate", type=int, default=0, metavar="N",
                    help="write N photos (mc4: head images; gaze360: frames) cut short, as a download that stopped "
                         "early leaves them; their faces are flagged expect_reject (not mpiifacegaze)")
    ap.add_argument("--contact_sheet", metavar="PNG", help="also write a grid of sample faces with their points")
    ap.add_argument("--sheet_faces", type=int, default=24, help="faces on the contact sheet")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from tools.synth import formats
    from tools.synth.render import SynthConfig
    if args.num <= 0:
        raise SystemExit("error: --num must be positive")
    cfg = None
    overrides = {k: getattr(args, k) for k in ("yaw", "pitch", "roll", "faces_per_photo", "head_frac")
                 if getattr(args, k) is not None}
    if overrides:
        cfg = SynthConfig(**overrides)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    kwargs = {"seed": args.seed, "jobs": args.jobs, "cfg": cfg}
    if args.format in ("wflw", "mc4", "gaze360"):
        kwargs["test_ratio"] = args.test_ratio
    if args.format == "video":
        kwargs["frames"] = args.frames
    if args.format == "mpiifacegaze":
        kwargs["persons"] = args.persons
        if args.truncate:
            raise SystemExit("error: --truncate is for formats with image files; mpiifacegaze writes .mat files")
    elif args.truncate:
        kwargs["truncate"] = args.truncate
    truth = formats.WRITERS[args.format](args.out, args.num, **kwargs)
    took = time.time() - start
    rejects = sum(1 for t in truth if t.get("expect_reject"))
    unit = {"video": "videos", "gaze360": "sequences"}.get(args.format, "faces")
    print("%s: %d %s in %.1f s (%.0f %s/s) -> %s; %d will be rejected by make_rec on purpose "
          "(listed with expect_reject in ground_truth.jsonl)" % (args.format, len(truth), unit, took,
                                                                  len(truth) / took, unit, args.out, rejects))
    if args.contact_sheet:
        from tools.synth.formats import face_counts, render_many
        sheet_cfg = cfg or SynthConfig()
        photos = [(img, faces) for _, img, faces, _ in
                  render_many(face_counts(args.sheet_faces, sheet_cfg, args.seed), args.seed, sheet_cfg, 1,
                              desc="contact sheet")]
        formats.contact_sheet(args.contact_sheet, photos)
        print("contact sheet -> %s" % args.contact_sheet)
    return truth


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
