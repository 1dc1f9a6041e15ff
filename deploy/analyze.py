"""Landmarks and head pose on photos, folders of photos, videos or a camera, from exported models only.

The pipeline is ``deploy.FaceAnalyzer`` (``deploy/analyzer.py``); this script parses the arguments (the
object's options, by the same names), lists the inputs and writes the answers and drawings.

    python deploy/analyze.py photo.jpg --out out/analyze                  # the shipped model and detector
    python deploy/analyze.py photos/ clip.mp4 --out out/analyze --detector dlib
    python deploy/analyze.py --camera 0 --out out/cam --show

``OUT/results.jsonl``: one line per face per photo or frame: ``source`` (and ``image``, so the lines read as
deploy/predict.py's), ``frame``, ``time`` and ``track`` for video, ``box`` (the annotators' convention) and
``det_score``, ``face_score`` (stage-3 models), ``points`` in photo pixels and ``pose`` (pitch, yaw, roll in
degrees: the project's 3D face fitted to the points by solvePnP, ``recordio.geometry``, with the camera
below).  Drawn output: ``OUT/drawn/<photo>`` and ``OUT/<video>.mp4`` (box, points, track id, head-pose
axes: red x, green y, blue the facing direction); ``--show`` opens a window.  ``OUT/summary.json``: faces
found, photos or frames per second, the camera, and what was skipped and why.

Camera: ``--focal PX`` and ``--center X,Y``; without them focal = the photo's width and the principal point
at its centre (the summary says it was assumed).  Detection (``deploy/detect.py``): the detector's boxes are
mapped to the annotators' convention; on photos each face is then re-cropped from the landmark model's first
points and answered again (``look``; ``--no_refit``: the detector's box only); a face rolled more than
``--upright`` degrees is answered from its crop turned upright (``Predictor``); a stage-3 landmark model's
score drops the detections it judges non-face (``--keep_nonfaces`` keeps them).  In video, faces are tracked
(their points give the next frame's box; the detector runs every ``--detect_every`` frames, when a track's
face_score falls and when a track is lost); points are smoothed by a constant-velocity Kalman filter
(``--filter one_euro``: the One-Euro filter instead) and pose by a One-Euro filter (``--no_smooth`` turns
both off).

Gaze (``--gaze MODEL``, a gaze export): each face gets the input its model was trained on
(``deploy/gaze.py``, ``recordio/gazeviews.py``: MPIIFaceGaze's data normalisation, MC4's head and eye views,
Gaze360's head crops) from its points, head pose and the camera, and ``gaze`` in results.jsonl holds the
answer in the camera's frame: ``vector`` (x right, y down, z forward; into the camera is (0, 0, -1)),
``pitch`` and ``yaw`` in degrees (pitch > 0 up, yaw > 0 towards the image's left), ``sigma`` (degrees, the
10-90% interval) where the model has one, ``head_vector`` and ``eye_in_head`` for MC4.  Drawn: an arrow from
each eye along the gaze, and the interval as a cone.  Gaze360's LSTM takes 7 frames of a track, the answer
belonging to the middle one (video output runs 3 frames behind; at a track's ends the edge frame repeats; a
photo is its own 7 frames).  In video the gaze is smoothed like the pose (One-Euro).  Each answer also gives
``origin_mm``, the face centre in the camera's frame where the gaze starts.  ``--calibration FILE`` applies
a per-person correction (``deploy/calibrate_gaze.py`` fits it; the model's own direction stays as
``uncalibrated``); ``--screen FILE`` adds ``screen``, the point on that screen the gaze meets
(``deploy/gazecal.py`` says how a screen is described).
"""
import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from recordio.devices import use_all_cores  # noqa: E402

use_all_cores()  # before MXNet loads: it reads OMP_NUM_THREADS once

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from deploy.analyzer import (DEFAULTS, PHOTO_DETECTOR, SHIPPED_DETECTOR, SHIPPED_LANDMARKS,  # noqa: E402,F401
                             VIDEO_DETECTOR, FaceAnalyzer, look)
from deploy.predictor import add_backend_args  # noqa: E402
from deploy.track import KALMAN_LAG  # noqa: E402
from recordio import imagefile  # noqa: E402
from recordio.errors import BadInput  # noqa: E402

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="photos, folders of photos, videos")
    ap.add_argument("--camera", type=int, help="read this camera (cv2.VideoCapture index) instead")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--landmarks", help="landmark export prefix (default: the shipped course21 model)")
    ap.add_argument("--detector", help="haar, dlib, mtcnn, yunet, mxnet, boxes; one on turned photos too, such as "
                                       "mtcnn@35 (also turned by -35 and +35 degrees); or a union such as "
                                       "mtcnn+dlib (default: the shipped detector, else mtcnn on photos and dlib in "
                                       "video)")
    ap.add_argument("--yunet", help="yunet: its .onnx file")
    ap.add_argument("--mxnet_detector", help="mxnet: a detector export prefix (default: the shipped one)")
    ap.add_argument("--boxes", help="use the face boxes of this label file (the 'boxes' detector)")
    ap.add_argument("--format", default=DEFAULTS["format"], choices=("course21", "wflw", "coco"),
                    help="the --boxes label file's format")
    ap.add_argument("--face_threshold", type=float, default=DEFAULTS["face_threshold"],
                    help="stage-3 models: detections scored below this are non-face and dropped")
    ap.add_argument("--keep_nonfaces", action="store_true", help="keep detections the stage-3 model judges non-face")
    ap.add_argument("--no_refit", action="store_true",
                    help="photos: answer from the detector's box only (default: the box re-made from the points "
                         "of a first look, in the annotators' convention, and looked at again)")
    ap.add_argument("--focal", type=float, help="camera focal length, px (default: the photo width, assumed)")
    ap.add_argument("--center", help="principal point X,Y in px (default: the photo centre, assumed)")
    ap.add_argument("--flip", action="store_true", help="average each face with its mirror image's answer")
    ap.add_argument("--detect_every", type=int, default=DEFAULTS["detect_every"],
                    help="video: run the detector at least every N frames")
    ap.add_argument("--detect_lag", type=int, default=DEFAULTS["detect_lag"],
                    help="video: a periodic detection runs on a thread while the tracks go on and is merged N frames "
                         "later, its boxes moved as their tracks moved (always N frames: the same answers on any "
                         "machine); faster, a little less steady (docs/video.md); 0: the frame waits for it "
                         "(default %(default)s)")
    ap.add_argument("--refresh_score", type=float, default=DEFAULTS["refresh_score"],
                    help="video: a track whose face_score falls below this gets a fresh detection in the next frame")
    ap.add_argument("--no_smooth", action="store_true", help="video: no smoothing of points, pose and gaze")
    ap.add_argument("--filter", choices=("kalman", "one_euro"), default=DEFAULTS["filter"],
                    help="video: how points are smoothed: a constant-velocity Kalman filter (follows steady motion "
                         "without lag) or the One-Euro filter")
    ap.add_argument("--accel", type=float, default=DEFAULTS["accel"],
                    help="Kalman: how fast the points' motion may change, face widths per s^1.5")
    ap.add_argument("--noise", type=float, default=DEFAULTS["noise"],
                    help="Kalman: the landmark model's frame-to-frame point error, face widths")
    ap.add_argument("--lag", type=int, help="Kalman, video files: each frame's points are revised with the next LAG "
                                            "frames' (a fixed-lag smoother; output waits LAG frames); default %d for "
                                            "files, 0 (no wait) for a camera" % KALMAN_LAG)
    ap.add_argument("--jump", type=float, default=DEFAULTS["jump"],
                    help="Kalman: points this many standard deviations off the predicted motion restart the filter")
    ap.add_argument("--min_cutoff", type=float, default=DEFAULTS["min_cutoff"],
                    help="One-Euro cut-off of still points, Hz")
    ap.add_argument("--beta", type=float, default=DEFAULTS["beta"],
                    help="One-Euro speed coefficient of points, per face width per second")
    ap.add_argument("--pose_min_cutoff", type=float, default=DEFAULTS["pose_min_cutoff"],
                    help="One-Euro cut-off of a still head pose, Hz")
    ap.add_argument("--pose_beta", type=float, default=DEFAULTS["pose_beta"],
                    help="One-Euro speed coefficient of pose, per deg/s")
    ap.add_argument("--gaze", nargs="?", const="shipped",
                    help="gaze for every face: a gaze export prefix (MPIIFaceGaze, MC4 or Gaze360 model), or no "
                         "value for the shipped one (deploy/models/gaze, learnt from real faces; non-commercial)")
    ap.add_argument("--calibration", help="a per-person gaze correction from deploy/calibrate_gaze.py, applied to "
                                          "every gaze answer")
    ap.add_argument("--screen", help="a screen file (JSON, deploy/gazecal.py): each gaze's point on that screen")
    ap.add_argument("--gaze_min_cutoff", type=float, default=DEFAULTS["gaze_min_cutoff"],
                    help="One-Euro cut-off of a still gaze, Hz")
    ap.add_argument("--gaze_beta", type=float, default=DEFAULTS["gaze_beta"],
                    help="One-Euro speed coefficient of gaze, per radian per second")
    ap.add_argument("--max_frames", type=int, default=0, help="video: stop after this many frames (0: all)")
    ap.add_argument("--no_draw", action="store_true", help="write results.jsonl only")
    ap.add_argument("--show", action="store_true", help="show the drawn photos or frames in a window (q stops)")
    ap.add_argument("--gpu_ids", default="", help="e.g. 0; empty = CPU")
    add_backend_args(ap, auto=True)
    args = ap.parse_args(argv)
    if not args.inputs and args.camera is None:
        ap.error("give photos, folders or videos, or --camera N")
    return args


def analyzer_options(args):
    """The ``FaceAnalyzer`` options among analyze.py's arguments (the same names)."""
    return {k: getattr(args, k) for k in DEFAULTS}


def analyze_photo(an, path, results, drawn_path, summary, show=False):
    """One photo's faces into ``results`` (its drawing to ``drawn_path``); a photo that cannot be read or
    answered is listed in ``summary["skipped"]`` with the reason."""
    try:
        image = imagefile.read(path)
    except imagefile.ImageProblem as e:
        summary["skipped"].append({"source": path, "reason": str(e)})
        return 0
    summary["photos_read"] += 1
    try:
        faces = an.photo(image, source=path)
    except BadInput as e:  # --boxes: a photo the label file does not name
        summary["skipped"].append({"source": path, "reason": str(e)})
        return 0
    for face in faces:
        results.write(json.dumps(face.as_dict()) + "\n")
    if drawn_path or show:
        canvas = an.draw(image.copy(), faces)
        if drawn_path:
            os.makedirs(os.path.dirname(drawn_path), exist_ok=True)
            cv2.imwrite(drawn_path, canvas)
        if show:
            _show(canvas)
    return len(faces)


def analyze_video(an, source, results, drawn_path, max_frames=0, show=False):
    """Every frame of a video file (or a camera index) into ``results``, drawn to ``drawn_path`` (encoded on a
    writer thread); (frames, faces, latencies): a camera's latencies are the seconds from reading each frame to
    its drawn output."""
    from deploy.videoio import FrameWriter
    writer, latencies = None, []
    try:
        for frame in an.video(source, max_frames, progress=True):
            for face in frame.faces:
                results.write(json.dumps(face.as_dict()) + "\n")
            if drawn_path or show:
                canvas = an.draw(frame.image.copy(), frame.faces)
                if drawn_path:
                    if writer is None:
                        os.makedirs(os.path.dirname(drawn_path) or ".", exist_ok=True)
                        h, w = canvas.shape[:2]
                        writer = FrameWriter(cv2.VideoWriter(drawn_path, cv2.VideoWriter_fourcc(*"mp4v"),
                                                             frame.fps, (w, h)))
                    writer.write(canvas)
                if show and not _show(canvas):
                    break
            if isinstance(source, int) and frame.captured is not None:  # read -> answered (and drawn)
                latencies.append(time.perf_counter() - frame.captured)
    finally:
        if writer is not None:
            writer.close()
    return an.video_counts["frames"], an.video_counts["faces"], latencies


def expand_inputs(inputs):
    """(kind, path) for every photo and video the inputs name (folders: their photos and videos, sorted), and
    the inputs that are neither, with the reason."""
    found, skipped, seen = [], [], {}
    for path in inputs:
        if os.path.isdir(path):
            names = sorted(os.listdir(path))
            listed = [(_kind(os.path.join(path, n)), os.path.join(path, n)) for n in names if _kind(n)]
        elif not os.path.exists(path):
            skipped.append({"source": path, "reason": "not found"})
            continue
        elif _kind(path):
            listed = [(_kind(path), path)]
        else:
            skipped.append({"source": path,
                            "reason": "not a photo or video (extension %s)" % os.path.splitext(path)[1]})
            continue
        for kind, p in listed:
            real = os.path.realpath(p)
            if real in seen:  # a file named twice (itself and in its folder) is answered once
                skipped.append({"source": p, "reason": "the same file as %s, answered once" % seen[real]})
                continue
            seen[real] = p
            found.append((kind, p))
    return found, skipped


def output_paths(found, out, camera=None, draw=True):
    """{source: the drawn file it gets}: photos ``OUT/drawn/<name>``, videos (and the camera) ``OUT/<stem>.mp4``;
    a name already given to an earlier source, or that is one of the inputs themselves (``--out`` the photos'
    own folder), gets ``-2``, ``-3``, ... (``deploy.outputs``)."""
    if not draw:
        return {}
    from deploy.outputs import OutputNames
    names = OutputNames(p for _, p in found)
    paths = {}
    for kind, source in list(found) + ([("video", camera)] if camera is not None else []):
        if kind == "photo":
            paths[source] = names.path(os.path.join(out, "drawn"), os.path.basename(source))
        else:
            stem = "camera_%d" % source if isinstance(source, int) else os.path.splitext(os.path.basename(source))[0]
            paths[source] = names.path(out, stem + ".mp4")
    return paths


def _kind(path):
    ext = os.path.splitext(path)[1].lower()
    return "photo" if ext in PHOTO_EXTENSIONS else "video" if ext in VIDEO_EXTENSIONS else None


def _show(canvas):
    """Show a drawn image; False when the user pressed q (or no window can open)."""
    try:
        cv2.imshow("analyze", canvas)
        return (cv2.waitKey(1) & 0xFF) != ord("q")
    except cv2.error:
        return False


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    an = FaceAnalyzer(**analyzer_options(args))
    found, skipped = expand_inputs(args.inputs)
    summary = {"landmarks": an.predictor.meta.get("model"), "detector": None, "skipped": skipped,
               "backend": an.predictor.backend, "backend_timings_ms": an.predictor.timings or None,
               "gaze": None if an.gaze is None else {"model": an.gaze.name, "export": an.gaze.prefix,
                                                     "input": an.gaze.kind, "frames": an.gaze.frames or 1},
               "nonfaces_dropped": 0, "photos": 0, "photos_read": 0, "faces_in_photos": 0, "frames": 0,
               "faces_in_frames": 0,
               "camera": ("assumed: focal = the photo width, principal point at its centre"
                          if an.assumed_camera and not (args.focal or args.center) else
                          "focal %s px, principal point %s (%s)" % (
                              args.focal if args.focal else "= width (assumed)",
                              args.center if args.center else "the centre (assumed)", "given"))}
    photos = [p for k, p in found if k == "photo"]
    videos = [p for k, p in found if k == "video"]
    if args.boxes and (videos or args.camera is not None):
        raise SystemExit("error: --boxes gives the faces of photos named in %s; %s has no boxes there: use a "
                         "detector (--detector) for videos and cameras" % (
                             args.boxes, videos[0] if videos else "camera %d" % args.camera))
    drawn = output_paths(found, args.out, args.camera, draw=not args.no_draw)
    summary["drawn"] = {str(k): v for k, v in drawn.items()}
    if args.boxes:
        summary["skipped"] += [{"source": e.file, "line": e.line, "reason": e.reason}
                               for e in an.detector("photos").errors]
    with open(os.path.join(args.out, "results.jsonl"), "w") as results:
        start = time.time()
        for path in tqdm(photos, desc="photos", unit="photo", mininterval=0.5, disable=len(photos) < 2):
            summary["faces_in_photos"] += analyze_photo(an, path, results, drawn.get(path), summary, args.show)
            summary["photos"] += 1
        photo_time = time.time() - start
        start = time.time()
        for source in videos + ([args.camera] if args.camera is not None else []):
            frames, faces, latencies = analyze_video(an, source, results, drawn.get(source), args.max_frames,
                                                     args.show)
            summary["frames"] += frames
            summary["faces_in_frames"] += faces
            if isinstance(source, int):  # a camera drops the frames it cannot keep up with
                summary["camera_frames_dropped"] = an.video_counts.get("dropped", 0)
                if latencies:
                    summary["camera_latency_ms"] = {"median": round(1000 * float(np.median(latencies)), 1),
                                                    "p95": round(1000 * float(np.percentile(latencies, 95)), 1)}
        video_time = time.time() - start
    summary["detector"] = an.detector_summary()
    summary["detector_backends"] = an.detector_backends() or None
    summary["skipped"] += an.skipped
    summary["nonfaces_dropped"] = an.nonfaces_dropped
    if videos or args.camera is not None:
        summary["detector_runs"] = an.detector_runs
    if summary["photos"]:
        summary["photos_per_s"] = round(summary["photos"] / max(photo_time, 1e-9), 2)
    if summary["frames"]:
        summary["frames_per_s"] = round(summary["frames"] / max(video_time, 1e-9), 2)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    from recordio.cli import run
    run(main)
