"""Landmarks and head pose on photos, folders of photos, videos or a camera, from exported models only.

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
import collections
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

from deploy.gazecal import Calibration, Screen, direction  # noqa: E402
from deploy.predictor import add_backend_args, backend_kwargs  # noqa: E402
from deploy.track import KALMAN_ACCEL, KALMAN_JUMP, KALMAN_LAG, KALMAN_NOISE  # noqa: E402
from recordio import devices, gazeviews, geometry, imagefile  # noqa: E402
from recordio.errors import BadInput  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_LANDMARKS = os.path.join(HERE, "models", "course21", "model")
SHIPPED_DETECTOR = os.path.join(HERE, "models", "detector", "model")
# Without --detector (and no shipped detector): on photos MTCNN on the photo and on it turned by -30 and +30
# degrees (the most course faces found with under 0.1 false ones per photo, chosen on the training and validation
# photos; README); in video dlib, whose points were the steadier on the rendered videos (tracking carries a face
# between detections, so recall matters less there).
PHOTO_DETECTOR, VIDEO_DETECTOR = "mtcnn@30", "dlib"
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
MAX_BAD_FRAMES = 25  # a video that fails this many frames in a row is taken to end there (cut short)
AXIS_MM = 60.0  # length of the drawn head-pose axes
GAZE_MM = 120.0  # length of the drawn gaze arrows
CONE_RAYS = 24  # rays drawn around a gaze cone's rim
MAX_CONE_DEG = 60.0  # wider intervals are drawn at this width (a rim near 90 degrees projects off the face)


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
    ap.add_argument("--format", default="course21", choices=("course21", "wflw", "coco"),
                    help="the --boxes label file's format")
    ap.add_argument("--face_threshold", type=float, default=0.5,
                    help="stage-3 models: detections scored below this are non-face and dropped")
    ap.add_argument("--keep_nonfaces", action="store_true", help="keep detections the stage-3 model judges non-face")
    ap.add_argument("--no_refit", action="store_true",
                    help="photos: answer from the detector's box only (default: the box re-made from the points "
                         "of a first look, in the annotators' convention, and looked at again)")
    ap.add_argument("--focal", type=float, help="camera focal length, px (default: the photo width, assumed)")
    ap.add_argument("--center", help="principal point X,Y in px (default: the photo centre, assumed)")
    ap.add_argument("--flip", action="store_true", help="average each face with its mirror image's answer")
    ap.add_argument("--detect_every", type=int, default=10, help="video: run the detector at least every N frames")
    ap.add_argument("--refresh_score", type=float, default=0.9,
                    help="video: a track whose face_score falls below this gets a fresh detection in the next frame")
    ap.add_argument("--no_smooth", action="store_true", help="video: no smoothing of points, pose and gaze")
    ap.add_argument("--filter", choices=("kalman", "one_euro"), default="kalman",
                    help="video: how points are smoothed: a constant-velocity Kalman filter (follows steady motion "
                         "without lag) or the One-Euro filter")
    ap.add_argument("--accel", type=float, default=KALMAN_ACCEL,
                    help="Kalman: how fast the points' motion may change, face widths per s^1.5")
    ap.add_argument("--noise", type=float, default=KALMAN_NOISE,
                    help="Kalman: the landmark model's frame-to-frame point error, face widths")
    ap.add_argument("--lag", type=int, help="Kalman, video files: each frame's points are revised with the next LAG "
                                            "frames' (a fixed-lag smoother; output waits LAG frames); default %d for "
                                            "files, 0 (no wait) for a camera" % KALMAN_LAG)
    ap.add_argument("--jump", type=float, default=KALMAN_JUMP,
                    help="Kalman: points this many standard deviations off the predicted motion restart the filter")
    ap.add_argument("--min_cutoff", type=float, default=1.0, help="One-Euro cut-off of still points, Hz")
    ap.add_argument("--beta", type=float, default=2.0,
                    help="One-Euro speed coefficient of points, per face width per second")
    ap.add_argument("--pose_min_cutoff", type=float, default=1.0, help="One-Euro cut-off of a still head pose, Hz")
    ap.add_argument("--pose_beta", type=float, default=0.02, help="One-Euro speed coefficient of pose, per deg/s")
    ap.add_argument("--gaze", help="a gaze export prefix: gaze for every face (MPIIFaceGaze, MC4 or Gaze360 model)")
    ap.add_argument("--calibration", help="a per-person gaze correction from deploy/calibrate_gaze.py, applied to "
                                          "every gaze answer")
    ap.add_argument("--screen", help="a screen file (JSON, deploy/gazecal.py): each gaze's point on that screen")
    ap.add_argument("--gaze_min_cutoff", type=float, default=1.0, help="One-Euro cut-off of a still gaze, Hz")
    ap.add_argument("--gaze_beta", type=float, default=1.0,
                    help="One-Euro speed coefficient of gaze, per radian per second")
    ap.add_argument("--max_frames", type=int, default=0, help="video: stop after this many frames (0: all)")
    ap.add_argument("--no_draw", action="store_true", help="write results.jsonl only")
    ap.add_argument("--show", action="store_true", help="show the drawn photos or frames in a window (q stops)")
    ap.add_argument("--gpu_ids", default="", help="e.g. 0; empty = CPU")
    add_backend_args(ap)
    args = ap.parse_args(argv)
    if not args.inputs and args.camera is None:
        ap.error("give photos, folders or videos, or --camera N")
    return args


def look(predictor, image, boxes, refit_map=None):
    """The landmark model on face ``boxes`` of one image (one batch): (boxes, points (N, K, 2) in photo px, face
    scores (N,) or None).  With ``refit_map`` (``deploy.detect.points_map``) it looks twice: the second time
    on the boxes its first points give in the annotators' convention, the crops it was trained on, whatever
    the detector's box convention and fit (photos; in video the tracks' boxes come from the points already)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return boxes, np.zeros((0, 0, 2)), None

    def once(boxes):
        inputs, to_photo = predictor.crops(image, boxes)
        out = predictor(np.stack(inputs))
        return np.stack([geometry.apply_affine(A, p) for A, p in zip(to_photo, out["landmarks"])]), out.get("face_prob")

    points, scores = once(boxes)
    if refit_map is not None:
        from deploy.detect import refit_boxes
        boxes = refit_boxes(points, refit_map)
        points, scores = once(boxes)
    return boxes, points, scores


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
            skipped.append({"source": path, "reason": "not a photo or video (extension %s)" % os.path.splitext(path)[1]})
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


class Analyzer:
    """The pipeline from pixels to answers for one image: detect (or track), crop, landmarks, stage-3 score,
    head pose; and the drawing."""

    def __init__(self, args):
        from deploy.predictor import Predictor
        model = args.landmarks or SHIPPED_LANDMARKS
        if not os.path.exists(model + "-symbol.json"):
            raise SystemExit("error: no landmark model at %s (pass --landmarks RUN_DIR/model%s)"
                             % (model, "" if args.landmarks else "; the shipped model is missing from this checkout"))
        self.predictor = Predictor(model, ctx=devices.contexts(args.gpu_ids), flip=args.flip,
                                   **dict(backend_kwargs(args, model), batch_size=1))
        if self.predictor.meta.get("task") != "landmarks":
            raise SystemExit("error: %s is a %s model, --landmarks takes a landmark model"
                             % (model, self.predictor.meta.get("task")))
        self.schema = self.predictor.meta["schema"]
        given = "boxes" if args.boxes else args.detector or ("mxnet" if os.path.exists(SHIPPED_DETECTOR + "-meta.json")
                                                             else None)
        self.detector_names = {"photos": given or PHOTO_DETECTOR, "video": given or VIDEO_DETECTOR}
        self.args = args
        from deploy.detect import points_map
        self.refit_map = None if args.no_refit or args.boxes else points_map(self.schema)
        self.detectors, self.detectors_used = {}, {}
        for kind in self.detector_names:  # a detector that cannot load fails now, not at the first video
            self.detector(kind)
        self.assumed_camera = args.focal is None or args.center is None
        self.gaze = None
        if args.gaze:
            from deploy.gaze import GazeModel
            if not os.path.exists(args.gaze + "-symbol.json"):
                raise SystemExit("error: no gaze model at %s (pass --gaze RUN_DIR/model)" % args.gaze)
            try:
                gaze_backend = None if args.backend == "int8" else args.backend  # --calib is the landmark model's
                self.gaze = GazeModel(args.gaze, ctx=devices.contexts(args.gpu_ids), backend=gaze_backend)
                self.gaze.check_schema(self.schema)
            except ValueError as e:
                raise SystemExit("error: --gaze %s with --landmarks %s: %s" % (args.gaze, model, e))
        elif args.calibration or args.screen:
            raise SystemExit("error: --calibration and --screen act on gaze: give a gaze model with --gaze")
        self.calibration = Calibration.load(args.calibration) if args.calibration else None
        self.screen = Screen.load(args.screen) if args.screen else None

    def camera(self, w, h):
        """(focal, centre) of the camera for a w x h image: given, or the assumption."""
        focal = self.args.focal if self.args.focal is not None else float(w)
        centre = tuple(float(v) for v in self.args.center.split(",")) if self.args.center else (w / 2.0, h / 2.0)
        return focal, centre

    def detector(self, kind):
        """The detector for ``kind`` ("photos" or "video"), made once."""
        name = self.detector_names[kind]
        if name not in self.detectors:
            from deploy.detect import make_detector
            a = self.args
            self.detectors[name] = make_detector(name, yunet=a.yunet, mxnet=a.mxnet_detector or SHIPPED_DETECTOR,
                                                 labels=a.boxes, label_format=a.format)
        return self.detectors[name]

    def detect(self, image, source=None, kind="photos"):
        det = self.detector(kind)
        self.detectors_used[kind] = self.detector_names[kind]
        if self.detector_names[kind] == "boxes":
            det.for_photo(source)
        return det.detect(image)

    def detector_summary(self):
        """The detector(s) used: one name, or which for photos and which for video."""
        used = self.detectors_used or self.detector_names
        if len(set(used.values())) == 1:
            return next(iter(used.values()))
        return ", ".join("%s (%s)" % (name, kind) for kind, name in used.items())

    def landmarks(self, image, boxes, refit=False):
        """(boxes, points (N, K, 2) photo px, face scores (N,) or None) for face ``boxes`` of one image;
        ``refit``: the boxes re-made from the points and looked at again (``look``)."""
        return look(self.predictor, image, boxes, self.refit_map if refit else None)

    def camera_K(self, w, h):
        return geometry.camera_matrix(w, h, *self.camera(w, h))

    def gaze_views(self, image, points, rt):
        """The gaze model's views of one face, or None without a head pose."""
        if self.gaze is None or rt is None:
            return None
        h, w = image.shape[:2]
        return self.gaze.views(image, self.camera_K(w, h), rt[0], rt[1], points, self.schema)

    def add_gaze(self, faces, windows):
        """Run the gaze model on ``windows`` (per face: a list of views dicts, or None) and put each answer into
        its face record as ``gaze``; returns the answers (None where a face has none)."""
        idx = [k for k, w in enumerate(windows) if w is not None]
        samples = [self.gaze.sample([views for views, _ in windows[k]]) for k in idx]
        centre = [windows[k][len(windows[k]) // 2][1] for k in idx]
        answers = self.gaze.answers(self.gaze.predict(samples), centre)
        out = [None] * len(windows)
        for k, a in zip(idx, answers):
            if self.calibration is not None:
                self.calibration.apply(a)
            faces[k]["gaze"] = out[k] = a
        return out

    def place_gaze(self, face, rt):
        """The final gaze answer's place: ``origin_mm`` (the face centre in the camera's frame, where the gaze
        starts) and, with --screen, the ``screen`` point it meets."""
        if "gaze" not in face or rt is None:
            return
        origin = gazeviews.centre_of(*rt)
        face["gaze"]["origin_mm"] = np.round(origin, 1).tolist()
        if self.screen is not None:
            face["gaze"]["screen"] = self.screen.look(origin, face["gaze"]["vector"])

    def pose(self, points, w, h):
        """(pitch, yaw, roll) in degrees and (R, t) of the head; (None, reason) where solvePnP finds none (a
        degenerate point set, or a fit behind the camera)."""
        focal, centre = self.camera(w, h)
        try:
            R, t = geometry.head_pose_from_landmarks(points, (w, h), self.schema, focal, centre)
        except (ValueError, cv2.error) as e:
            return None, " ".join(str(e).split())[:200]
        return np.array(geometry.matrix_to_euler(R)), (R, t)

    def draw(self, image, face, pose_rt):
        box = np.asarray(face["box"])
        colour = (60, 220, 60) if face.get("face_score", 1.0) >= self.args.face_threshold else (60, 60, 230)
        p1, p2 = geometry.cv_fixed(box[:2], 2), geometry.cv_fixed(box[2:], 2)
        cv2.rectangle(image, tuple(int(v) for v in p1), tuple(int(v) for v in p2), colour, 2, cv2.LINE_AA, 2)
        if "points" in face:
            geometry.draw_points(image, face["points"], (0, 255, 255), radius=max(1.5, 0.012 * (box[2] - box[0])))
        label = "%s%s" % ("#%d " % face["track"] if "track" in face else "",
                          "%.2f" % face["face_score"] if "face_score" in face else "")
        if label:
            cv2.putText(image, label, (int(box[0]), max(12, int(box[1]) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        colour, 1, cv2.LINE_AA)
        if pose_rt is not None and "points" in face:
            R, t = pose_rt
            h, w = image.shape[:2]
            K = self.camera_K(w, h)
            origin = np.mean(face["points"], axis=0)
            base = geometry.project(t, K)
            for axis, colour in ((np.array([1.0, 0, 0]), (0, 0, 255)), (np.array([0, 1.0, 0]), (0, 255, 0)),
                                 (geometry.FORWARD, (255, 0, 0))):
                tip = origin + geometry.project(t + R @ (AXIS_MM * axis), K) - base
                cv2.arrowedLine(image, tuple(int(v) for v in origin), tuple(int(v) for v in tip), colour, 2,
                                cv2.LINE_AA, tipLength=0.15)
        if pose_rt is not None and face.get("gaze"):
            self.draw_gaze(image, face["gaze"], pose_rt)
        return image

    def draw_gaze(self, image, gaze, pose_rt):
        """An arrow from each eye along the gaze; where the model gives an interval, its cone's rim."""
        from deploy.gaze import eye_centres
        h, w = image.shape[:2]
        K = self.camera_K(w, h)
        g = np.asarray(gaze["vector"], np.float64)
        sigma = np.radians(min(gaze.get("sigma", 0.0), MAX_CONE_DEG))
        if sigma > 0:  # two unit vectors across g span the rim
            a = np.cross(g, [0.0, 1.0, 0.0] if abs(g[1]) < 0.9 else [1.0, 0.0, 0.0])
            a /= np.linalg.norm(a)
            b = np.cross(g, a)
        for eye in eye_centres(*pose_rt):
            p0 = geometry.project(eye, K)
            p1 = geometry.project(eye + GAZE_MM * g, K)
            if sigma > 0:
                phi = np.linspace(0, 2 * np.pi, CONE_RAYS, endpoint=False)[:, None]
                rays = np.cos(sigma) * g + np.sin(sigma) * (np.cos(phi) * a + np.sin(phi) * b)
                rim = geometry.project(eye + GAZE_MM * rays, K)
                cv2.polylines(image, [geometry.cv_fixed(rim, 2).astype(np.int32)], True, (255, 200, 0), 1,
                              cv2.LINE_AA, 2)
            cv2.arrowedLine(image, tuple(int(v) for v in p0), tuple(int(v) for v in p1), (255, 0, 255), 2,
                            cv2.LINE_AA, tipLength=0.12)

    def faces(self, image, boxes, det_scores, refit=False):
        """Per face: the record and its (R, t); faces the stage-3 model judges non-face dropped unless kept.
        ``refit``: each box re-made from the points of a first look (photos; video tracks do this already)."""
        h, w = image.shape[:2]
        boxes, points, face_scores = self.landmarks(image, boxes, refit)
        out = []
        for k, box in enumerate(boxes):
            face = {"box": [round(float(v), 2) for v in box], "det_score": round(float(det_scores[k]), 4)}
            if face_scores is not None:
                face["face_score"] = round(float(face_scores[k]), 4)
                if face["face_score"] < self.args.face_threshold and not self.args.keep_nonfaces:
                    out.append((face, None, None, False))
                    continue
            euler, rt = self.pose(points[k], w, h)
            face["points"] = np.round(points[k], 2).tolist()
            face["pose"] = None if euler is None else dict(zip(("pitch", "yaw", "roll"), np.round(euler, 2).tolist()))
            if euler is None:
                face["pose_error"], rt = rt, None
            out.append((face, points[k], rt, True))
        return out


def analyze_photo(an, path, results, drawn_path, summary):
    """One photo's faces into ``results`` (its drawing to ``drawn_path``); a photo that cannot be read or
    answered is listed in ``summary["skipped"]`` with the reason."""
    try:
        image = imagefile.read(path)
    except imagefile.ImageProblem as e:
        summary["skipped"].append({"source": path, "reason": str(e)})
        return 0
    summary["photos_read"] += 1
    try:
        found = an.detect(image, path)
    except BadInput as e:  # --boxes: a photo the label file does not name
        summary["skipped"].append({"source": path, "reason": str(e)})
        return 0
    kept = 0
    canvas = image.copy() if drawn_path or an.args.show else None
    answered = [(face, pts, rt) for face, pts, rt, ok in an.faces(image, found.boxes, found.scores, refit=True) if ok]
    summary["nonfaces_dropped"] += len(found.boxes) - len(answered)
    if an.gaze is not None:  # a photo is its own window of frames
        windows = [None if v is None else [v] for v in (an.gaze_views(image, pts, rt) for _, pts, rt in answered)]
        an.add_gaze([face for face, _, _ in answered], windows)
    for face, _, rt in answered:
        an.place_gaze(face, rt)
        face.update({"source": path, "image": path})
        results.write(json.dumps(face) + "\n")
        kept += 1
        if canvas is not None:
            an.draw(canvas, face, rt)
    if drawn_path:
        os.makedirs(os.path.dirname(drawn_path), exist_ok=True)
        cv2.imwrite(drawn_path, canvas)
    if an.args.show:
        _show(canvas)
    return kept


class _VideoOut:
    """What becomes of a video's frames once their answers are complete: results lines, gaze (Gaze360's
    windows need the frames after it, so frames wait ``delay`` frames), smoothing of gaze, drawing."""

    def __init__(self, an, label, results, path, fps, lag=0):
        self.an, self.label, self.results, self.fps = an, label, results, fps
        self.path = path
        self.writer = None
        self.half = an.gaze.half if an.gaze is not None else 0  # Gaze360: frames on each side of a window
        self.lag = lag  # frames after a frame that revise its points
        self.delay = self.waits(an, lag)
        self.pending = collections.deque()
        self.smoothers = {}  # frame index -> {track id: its point filter}, asked for the points again at the end
        self.history = {}  # track id -> {frame index: (views, View)}
        self.filters = {}
        from deploy.track import OneEuroFilter
        self.new_filter = None if an.args.no_smooth else (
            lambda: OneEuroFilter(an.args.gaze_min_cutoff, an.args.gaze_beta))
        self.running = True

    @staticmethod
    def waits(an, lag):
        """Frames a frame waits for those after it: the smoother's lag or Gaze360's half window, the longer (the
        point filters keep that many frames, so a lag shorter than the window still revises its frame)."""
        return max(an.gaze.half if an.gaze is not None else 0, lag)

    def add(self, index, t, frame, faces, smoothers=None):
        """Frame ``index`` at ``t`` s with its faces: (record, points, (R, t) or None, track id); ``smoothers``:
        {track id: point filter} whose ``smoothed(t)`` revises the points when the frame is finished."""
        if smoothers:
            self.smoothers[index] = smoothers
        if self.an.gaze is not None:
            for face, points, rt, tid in faces:
                views = self.an.gaze_views(frame, points, rt)
                if views is not None:
                    self.history.setdefault(tid, {})[index] = views
        self.pending.append((index, t, frame, faces))
        while self.pending and self.pending[0][0] <= index - self.delay:
            self._finish(self.pending.popleft())
        for hist in self.history.values():
            for k in [k for k in hist if k < index - 2 * self.delay - 1]:
                del hist[k]

    def close(self):
        while self.pending:
            self._finish(self.pending.popleft())
        if self.writer is not None:
            self.writer.release()

    def _window(self, tid, index):
        """The views of track ``tid`` in frames index-half .. index+half; where the track has no view, the
        nearest frame towards the middle that it has (the edge frame repeats)."""
        hist = self.history.get(tid, {})
        if index not in hist:
            return None
        out = []
        for k in range(index - self.half, index + self.half + 1):
            j = k
            while j not in hist:
                j += 1 if j < index else -1
            out.append(hist[j])
        return out

    def _finish(self, entry):
        index, t, frame, faces = entry
        an = self.an
        smoothers = self.smoothers.pop(index, {})
        for face, _, _, tid in faces:
            revised = smoothers[tid].smoothed(t, self.lag) if tid in smoothers else None
            if revised is not None:
                face["points"] = np.round(revised, 2).tolist()
        if an.gaze is not None:
            answers = an.add_gaze([f for f, _, _, _ in faces], [self._window(tid, index) for _, _, _, tid in faces])
            for (face, _, _, tid), a in zip(faces, answers):
                if a is None or self.new_filter is None:
                    continue
                a.update(direction(self.filters.setdefault(tid, self.new_filter())(a["vector"], t)))
        canvas = frame.copy() if self.path or an.args.show else None
        for face, _, rt, _ in faces:
            an.place_gaze(face, rt)
            self.results.write(json.dumps(face) + "\n")
            if canvas is not None:
                an.draw(canvas, face, rt)
        if self.path:
            if self.writer is None:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                h, w = frame.shape[:2]
                self.writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            self.writer.write(canvas)
        if an.args.show and self.running and not _show(canvas):
            self.running = False


def analyze_video(an, source, results, drawn_path, summary):
    """Every frame of a video file (or a camera index): tracking, landmarks, pose, gaze, smoothing; the drawn
    video to ``drawn_path`` (None: not drawn)."""
    from deploy.track import Tracker
    cap = cv2.VideoCapture(source)
    label = "camera %d" % source if isinstance(source, int) else source
    if not cap.isOpened():
        summary["skipped"].append({"source": label, "reason": "cannot be opened as a video (missing, cut short "
                                                              "or not a video)"})
        return 0, 0
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not isinstance(source, int) else 0
    lag = an.args.lag if an.args.lag is not None else 0 if isinstance(source, int) else KALMAN_LAG
    lag = lag if an.args.filter == "kalman" and not an.args.no_smooth else 0
    smooth = None if an.args.no_smooth else {
        "points": ({"filter": "kalman", "accel": an.args.accel, "noise": an.args.noise,
                    "jump": an.args.jump, "keep": _VideoOut.waits(an, lag) + 1 if lag else 0}
                   if an.args.filter == "kalman"
                   else {"filter": "one_euro", "min_cutoff": an.args.min_cutoff, "beta": an.args.beta}),
        "pose": {"min_cutoff": an.args.pose_min_cutoff, "beta": an.args.pose_beta}}
    tracker = Tracker(lambda image: an.detect(image, kind="video"), an.args.detect_every,
                      0.0 if an.args.keep_nonfaces else an.args.face_threshold, an.args.refresh_score, smooth)
    out = _VideoOut(an, label, results, drawn_path, fps, lag)
    frame_index, faces_found, bad_run = -1, 0, 0
    bar = tqdm(total=total or None, desc=os.path.basename(str(label)), unit="frame", mininterval=0.5)
    while out.running:
        ok, frame = cap.read()
        frame_index += 1
        if not ok or frame is None:
            if total and frame_index < total and bad_run < MAX_BAD_FRAMES:
                bad_run += 1
                summary["skipped"].append({"source": label, "frame": frame_index, "reason": "frame cannot be decoded"})
                continue
            if total and frame_index < total:
                summary["skipped"].append({"source": label, "frame": frame_index,
                                           "reason": "the video ends at frame %d of the %d it declares (cut short or "
                                                     "damaged)" % (frame_index - bad_run, total)})
            break
        bad_run = 0
        if an.args.max_frames and frame_index >= an.args.max_frames:
            break
        bar.update(1)
        h, w = frame.shape[:2]
        t = frame_index / fps
        tracks = list(tracker.boxes_for(frame))
        boxes = np.array([tr.box for tr in tracks]).reshape(-1, 4)
        kept_faces, smoothers = [], {}
        for tr, (face, points, rt, answered) in zip(tracks, an.faces(frame, boxes, [tr.det_score for tr in tracks])):
            if not answered:  # judged non-face: the track ends
                tracker.update(tr, None, face["face_score"], None, t, (w, h))
                summary["nonfaces_dropped"] += 1
                continue
            pose = None if face["pose"] is None else np.array([face["pose"][k] for k in ("pitch", "yaw", "roll")])
            kept = tracker.update(tr, points, face.get("face_score"), pose, t, (w, h))
            if kept is None:
                continue
            smoothed, pose = kept
            face["points"] = np.round(smoothed, 2).tolist()
            if pose is not None:
                face["pose"] = dict(zip(("pitch", "yaw", "roll"), np.round(pose, 2).tolist()))
            face.update({"source": label, "image": label, "frame": frame_index, "time": round(t, 4), "track": tr.id})
            kept_faces.append((face, points, rt, tr.id))
            if lag:
                smoothers[tr.id] = tr.point_filter
            faces_found += 1
        out.add(frame_index, t, frame, kept_faces, smoothers)
    out.close()
    bar.close()
    cap.release()
    summary["detector_runs"] = summary.get("detector_runs", 0) + tracker.detections_run
    return frame_index, faces_found


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
    an = Analyzer(args)
    found, skipped = expand_inputs(args.inputs)
    summary = {"landmarks": an.predictor.meta.get("model"), "detector": None, "skipped": skipped,
               "backend": an.predictor.backend, "backend_timings_ms": an.predictor.timings or None,
               "gaze": None if an.gaze is None else {"model": an.gaze.name, "input": an.gaze.kind,
                                                     "frames": an.gaze.frames or 1},
               "nonfaces_dropped": 0, "photos": 0, "photos_read": 0, "faces_in_photos": 0, "frames": 0, "faces_in_frames": 0,
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
            summary["faces_in_photos"] += analyze_photo(an, path, results, drawn.get(path), summary)
            summary["photos"] += 1
        photo_time = time.time() - start
        start = time.time()
        for source in videos + ([args.camera] if args.camera is not None else []):
            frames, faces = analyze_video(an, source, results, drawn.get(source), summary)
            summary["frames"] += frames
            summary["faces_in_frames"] += faces
        video_time = time.time() - start
    summary["detector"] = an.detector_summary()
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
