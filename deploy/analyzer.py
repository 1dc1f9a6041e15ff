"""The photo and video path as a library object: build it once, call it on images or a video.

    >>> from deploy import FaceAnalyzer
    >>> analyzer = FaceAnalyzer()                       # the shipped landmark model, analyze.py's defaults
    >>> faces = analyzer.photo(cv2.imread("photo.jpg"))  # a BGR array
    >>> faces[0].points, faces[0].pose, faces[0].as_dict()
    >>> for frame in analyzer.video("clip.mp4"):         # frames in order, tracked and smoothed
    ...     print(frame.index, [f.track for f in frame.faces])

The steps, from exported files only: detector -> box map -> landmark crop -> points (a second look from the
points on photos; a face rolled past ``upright`` degrees answered turned upright) -> stage-3 face score ->
head pose (solvePnP of the 3D mean face, ``recordio.headpose``, with the camera below) -> gaze (the input its
model was trained on, ``deploy/gaze.py``) -> in video, tracking and smoothing.  ``deploy/analyze.py`` is
argument parsing, this object and the writers.

Options are analyze.py's own, by the same names and with the same defaults (``DEFAULTS``): ``landmarks``
(an export prefix; default the shipped model), ``detector`` (``deploy.detect`` names; default ``mtcnn@30``
on photos and ``dlib`` in video), ``boxes`` and ``format`` (a label file's boxes instead), ``gaze`` (a gaze
export), ``focal`` and ``center`` (the camera; default focal = the image width, principal point at the
centre), ``backend``, ``gpu_ids``, ``flip``, ``upright``/``no_upright``, ``no_refit``, ``face_threshold``,
``keep_nonfaces``, the video's tracking and smoothing settings, ``calibration`` and ``screen``.
"""
import collections
import os

import cv2
import numpy as np

from deploy.gazecal import Calibration, Screen, direction
from deploy.predictor import UPRIGHT_DEG, backend_kwargs
from deploy.track import KALMAN_ACCEL, KALMAN_JUMP, KALMAN_LAG, KALMAN_NOISE
from recordio import devices, gazeviews, geometry, headpose
from recordio.errors import BadInput

HERE = os.path.dirname(os.path.abspath(__file__))
SHIPPED_LANDMARKS = os.path.join(HERE, "models", "course21", "model")
SHIPPED_DETECTOR = os.path.join(HERE, "models", "detector", "model")
# the gaze model learnt from the real faces of course21/I with a real-data gaze model's answers
# (deploy/models/gaze/provenance.json; non-commercial): ``gaze="shipped"`` (analyze.py --gaze with no path)
SHIPPED_GAZE = os.path.join(HERE, "models", "gaze", "model")
# Without a detector named (and no shipped detector): on photos MTCNN on the photo and on it turned by -30 and
# +30 degrees (the most course faces found with under 0.1 false ones per photo, chosen on the training and
# validation photos; docs/detection.md); in video dlib, whose points were the steadier on the rendered videos
# (tracking carries a face between detections, so recall matters less there).
PHOTO_DETECTOR, VIDEO_DETECTOR = "mtcnn@30", "dlib"
MAX_BAD_FRAMES = 25  # a video that fails this many frames in a row is taken to end there (cut short)
AXIS_MM = 60.0  # length of the drawn head-pose axes
GAZE_MM = 120.0  # length of the drawn gaze arrows
CONE_RAYS = 24  # rays drawn around a gaze cone's rim
MAX_CONE_DEG = 60.0  # wider intervals are drawn at this width (a rim near 90 degrees projects off the face)

DEFAULTS = {
    "landmarks": None, "detector": None, "yunet": None, "mxnet_detector": None, "boxes": None,
    "format": "course21", "face_threshold": 0.5, "keep_nonfaces": False, "no_refit": False, "focal": None,
    "center": None, "flip": False, "detect_every": 10, "detect_lag": 0, "refresh_score": 0.9, "no_smooth": False,
    "filter": "kalman", "accel": KALMAN_ACCEL, "noise": KALMAN_NOISE, "lag": None, "jump": KALMAN_JUMP,
    "min_cutoff": 1.0, "beta": 2.0, "pose_min_cutoff": 1.0, "pose_beta": 0.02, "gaze": None,
    "calibration": None, "screen": None, "gaze_min_cutoff": 1.0, "gaze_beta": 1.0, "gpu_ids": "",
    "backend": None, "calib": None, "upright": UPRIGHT_DEG, "no_upright": False,
}
"""Every option of ``FaceAnalyzer`` and its default (analyze.py's arguments of the same names take these)."""


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


class Face:
    """One face of a photo or a video frame.

    ``as_dict()`` is the line analyze.py writes to results.jsonl: ``box`` (the annotators' convention, photo
    px), ``det_score``, ``face_score`` (stage-3 models), ``points`` (K, 2 photo px), ``pose`` (pitch, yaw, roll
    in degrees, or None with ``pose_error``), ``gaze`` (with a gaze model), and in video ``frame``, ``time``
    and ``track``; ``source`` and ``image`` where the image came from a file.  ``pose_rt`` is the head pose
    as (R, t) (mm, camera frame) or None; ``model_points`` the landmark model's own points before smoothing.
    """

    def __init__(self, record, model_points=None, pose_rt=None):
        self.record, self.model_points, self.pose_rt = record, model_points, pose_rt

    def as_dict(self):
        return dict(self.record)

    @property
    def box(self):
        return np.asarray(self.record["box"], np.float64)

    @property
    def points(self):
        return np.asarray(self.record["points"], np.float64) if "points" in self.record else None

    def __getattr__(self, name):
        if name in ("det_score", "face_score", "pose", "pose_error", "gaze", "track", "frame", "time", "source"):
            return self.record.get(name)
        raise AttributeError(name)

    def __repr__(self):
        return "Face(%s)" % ", ".join("%s=%s" % (k, self.record[k]) for k in ("box", "track", "pose")
                                      if k in self.record)


VideoFrame = collections.namedtuple("VideoFrame", "index time image faces fps captured", defaults=(None,))
VideoFrame.__doc__ = """One finished frame of ``FaceAnalyzer.video``: its index, time (s), the BGR image, its faces
(``Face``, each with its ``track``), the video's frame rate and when the frame was read (``time.perf_counter()``;
a camera's latency is the time from then to its drawn output)."""


class FaceAnalyzer:
    """Landmarks, head pose and gaze on images and videos, from exported files only (see the module's notes).

    Attributes
    ----------
    predictor : the landmark model (``deploy.predictor.Predictor``); ``predictor.backend`` the backend in use.
    gaze : the gaze model (``deploy.gaze.GazeModel``) or None.
    skipped : what could not be answered and why, as analyze.py's summary lists it (frames of videos, photos
        the label file does not name).
    nonfaces_dropped, detector_runs : counts since the object was built.
    """

    def __init__(self, **options):
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise TypeError("FaceAnalyzer got unknown options %s; valid: %s" % (", ".join(unknown),
                                                                                ", ".join(sorted(DEFAULTS))))
        from argparse import Namespace

        from deploy.predictor import Predictor
        self.args = args = Namespace(**dict(DEFAULTS, **options))
        args.backend = args.backend or "auto"  # each network on the fastest backend measured at load
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
        from deploy.detect import points_map
        self.refit_map = None if args.no_refit or args.boxes else points_map(self.schema)
        self.detectors, self.detectors_used = {}, {}
        for kind in self.detector_names:  # a detector that cannot load fails now, not at the first video
            self.detector(kind)
        self.assumed_camera = args.focal is None or args.center is None
        self.gaze = None
        if args.gaze == "shipped":
            args.gaze = SHIPPED_GAZE
        if args.gaze:
            from deploy.gaze import GazeModel
            if not os.path.exists(args.gaze + "-symbol.json"):
                if os.path.isfile(args.gaze):  # analyze.py --gaze photo.jpg: the photo was taken for the model
                    raise SystemExit("error: --gaze %s: a file, not a gaze export prefix (PREFIX-symbol.json); "
                                     "for the shipped model put --gaze after the inputs" % args.gaze)
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
        self.skipped, self.nonfaces_dropped, self.detector_runs = [], 0, 0
        self.video_counts = {"frames": 0, "faces": 0}  # of the last video: frames read (or tried), faces answered

    # ---------------------------------------------------------------------------------------------- photos

    def photo(self, image, source=None):
        """The faces of one BGR (or gray) image: a list of ``Face``.  ``source``: the file it came from (the
        lines then name it; ``boxes`` needs it to find the photo's boxes).  Faces the stage-3 model judges
        non-face are left out (counted in ``nonfaces_dropped``) unless ``keep_nonfaces``; a photo the label file
        of ``boxes`` does not name raises BadInput."""
        found = self.detect(image, source)
        answered = [(face, pts, rt) for face, pts, rt, ok in self.faces(image, found.boxes, found.scores, refit=True)
                    if ok]
        self.nonfaces_dropped += len(found.boxes) - len(answered)
        if self.gaze is not None:
            self.photo_gaze(image, [face for face, _, _ in answered], [(pts, rt) for _, pts, rt in answered])
        out = []
        for face, pts, rt in answered:
            self.place_gaze(face, rt)
            if source is not None:
                face.update({"source": source, "image": source})
            out.append(Face(face, pts, rt))
        return out

    # ----------------------------------------------------------------------------------------------- video

    def video(self, source, max_frames=0, progress=False):
        """Every frame of a video file (or a camera index), tracked and smoothed: ``VideoFrame`` objects in
        frame order.  With a smoother lag (files: ``KALMAN_LAG`` frames) or a Gaze360 model, a frame comes out
        once the frames after it that revise it have been read.  Frames that cannot be decoded, and a video
        that ends before the frames it declares, are listed in ``skipped``; ``video_counts`` holds the frames
        read and faces answered once the video is done.  ``progress``: a tqdm bar on stderr."""
        from deploy.track import Tracker
        a = self.args
        cap = cv2.VideoCapture(source)
        label = "camera %d" % source if isinstance(source, int) else source
        self.video_counts = {"frames": 0, "faces": 0}
        if not cap.isOpened():
            self.skipped.append({"source": label, "reason": "cannot be opened as a video (missing, cut short "
                                                            "or not a video)"})
            return
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if not isinstance(source, int) else 0
        lag = a.lag if a.lag is not None else 0 if isinstance(source, int) else KALMAN_LAG
        lag = lag if a.filter == "kalman" and not a.no_smooth else 0
        smooth = None if a.no_smooth else {
            "points": ({"filter": "kalman", "accel": a.accel, "noise": a.noise,
                        "jump": a.jump, "keep": _Pending.waits(self, lag) + 1 if lag else 0}
                       if a.filter == "kalman"
                       else {"filter": "one_euro", "min_cutoff": a.min_cutoff, "beta": a.beta}),
            "pose": {"min_cutoff": a.pose_min_cutoff, "beta": a.pose_beta}}
        tracker = Tracker(lambda image: self.detect(image, kind="video"), a.detect_every,
                          0.0 if a.keep_nonfaces else a.face_threshold, a.refresh_score, smooth,
                          a.detect_lag)
        pending = _Pending(self, label, fps, lag)
        frame_index, faces_found, bad_run = -1, 0, 0
        from deploy.videoio import FrameReader
        reader = FrameReader(cap, total, latest=isinstance(source, int), max_bad=MAX_BAD_FRAMES)
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=total or None, desc=os.path.basename(str(label)), unit="frame", mininterval=0.5)
        try:
            while True:
                item = reader.read()  # decoded ahead on the reader's thread (a camera's newest frame)
                frame_index = frame_index + 1 if item is None else item.index
                if item is None or not item.ok:
                    if item is not None and total and frame_index < total and bad_run < MAX_BAD_FRAMES:
                        bad_run += 1
                        self.skipped.append({"source": label, "frame": frame_index,
                                             "reason": "frame cannot be decoded"})
                        continue
                    if total and frame_index < total:
                        self.skipped.append({"source": label, "frame": frame_index,
                                             "reason": "the video ends at frame %d of the %d it declares (cut short "
                                                       "or damaged)" % (frame_index - bad_run, total)})
                    break
                frame = item.image
                bad_run = 0
                if max_frames and frame_index >= max_frames:
                    break
                if bar is not None:
                    bar.update(1)
                h, w = frame.shape[:2]
                t = frame_index / fps
                tracks = list(tracker.boxes_for(frame))
                boxes = np.array([tr.box for tr in tracks]).reshape(-1, 4)
                kept_faces, smoothers = [], {}
                for tr, (face, points, rt, answered) in zip(tracks, self.faces(frame, boxes,
                                                                               [tr.det_score for tr in tracks])):
                    if not answered:  # judged non-face: the track ends
                        tracker.update(tr, None, face["face_score"], None, t, (w, h))
                        self.nonfaces_dropped += 1
                        continue
                    pose = None if face["pose"] is None else np.array([face["pose"][k]
                                                                       for k in ("pitch", "yaw", "roll")])
                    kept = tracker.update(tr, points, face.get("face_score"), pose, t, (w, h))
                    if kept is None:
                        continue
                    smoothed, pose = kept
                    face["points"] = np.round(smoothed, 2).tolist()
                    if pose is not None:
                        face["pose"] = dict(zip(("pitch", "yaw", "roll"), np.round(pose, 2).tolist()))
                    face.update({"source": label, "image": label, "frame": frame_index, "time": round(t, 4),
                                 "track": tr.id})
                    kept_faces.append((face, points, rt, tr.id))
                    if lag:
                        smoothers[tr.id] = tr.point_filter
                    faces_found += 1
                yield from pending.add(frame_index, t, frame, kept_faces, smoothers, item.captured)
                self.video_counts = {"frames": frame_index + 1, "faces": faces_found, "dropped": reader.dropped}
            self.video_counts = {"frames": frame_index, "faces": faces_found, "dropped": reader.dropped}
            yield from pending.close()
        finally:
            if bar is not None:
                bar.close()
            reader.close()
            tracker.close()
            cap.release()
            self.detector_runs += tracker.detections_run
            tracker.detections_run = 0

    # -------------------------------------------------------------------------------------------- the steps

    def camera(self, w, h):
        """(focal, centre) of the camera for a w x h image: given, or the assumption."""
        focal = self.args.focal if self.args.focal is not None else float(w)
        center = self.args.center
        if center is None:
            centre = (w / 2.0, h / 2.0)
        elif isinstance(center, str):
            centre = tuple(float(v) for v in center.split(","))
        else:
            centre = tuple(float(v) for v in center)
        return focal, centre

    def camera_K(self, w, h):
        return geometry.camera_matrix(w, h, *self.camera(w, h))

    def detector(self, kind):
        """The detector for ``kind`` ("photos" or "video"), made once."""
        name = self.detector_names[kind]
        if name not in self.detectors:
            from deploy.detect import make_detector
            a = self.args
            mtcnn = {"mkldnn": "mxnet", "int8": "mxnet"}.get(a.backend, a.backend)  # MXNet or ONNX Runtime
            self.detectors[name] = make_detector(name, yunet=a.yunet, mxnet=a.mxnet_detector or SHIPPED_DETECTOR,
                                                 backend=mtcnn,
                                                 labels=a.boxes, label_format=a.format)
        return self.detectors[name]

    def detect(self, image, source=None, kind="photos"):
        """``deploy.detect.Detections`` of one image; with ``boxes``, the label file's boxes of ``source``."""
        det = self.detector(kind)
        self.detectors_used[kind] = self.detector_names[kind]
        if self.detector_names[kind] == "boxes":
            if source is None:
                raise BadInput("boxes from a label file need the photo's path (photo(image, source=PATH))")
            det.for_photo(source)
        return det.detect(image)

    def detector_backends(self):
        """What runs each detector network that chose a backend, and the timings it chose by."""
        from deploy.detect import network_backends
        found = {}
        for det in self.detectors.values():
            found.update(network_backends(det))
        return found

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

    def pose(self, points, w, h):
        """(pitch, yaw, roll) in degrees and (R, t) of the head; (None, reason) where solvePnP finds none (a
        degenerate point set, or a fit behind the camera)."""
        focal, centre = self.camera(w, h)
        try:
            R, t = headpose.head_pose_from_landmarks(points, (w, h), self.schema, focal, centre)
        except (ValueError, cv2.error) as e:
            return None, " ".join(str(e).split())[:200]
        return np.array(geometry.matrix_to_euler(R)), (R, t)

    def faces(self, image, boxes, det_scores, refit=False):
        """Per face: (record, points, (R, t) or None, answered); faces the stage-3 model judges non-face are not
        answered unless kept.  ``refit``: each box re-made from the points of a first look (photos; video
        tracks do this already)."""
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

    def photo_gaze(self, image, faces, points_rts, model=None):
        """Gaze for the face records ``faces`` of one photo, each from its landmark model's points and head pose
        (``points_rts``); a photo is its own window of frames.  ``model``: another gaze model than ``gaze``
        (bench_gaze_real runs several on the same faces)."""
        windows = [None if v is None else [v] for v in (self.gaze_views(image, pts, rt, model)
                                                        for pts, rt in points_rts)]
        return self.add_gaze(faces, windows, model)

    def gaze_views(self, image, points, rt, model=None):
        """The gaze model's (``model`` or ``gaze``) views of one face, or None without a head pose."""
        model = model or self.gaze
        if model is None or rt is None:
            return None
        h, w = image.shape[:2]
        return model.views(image, self.camera_K(w, h), rt[0], rt[1], points, self.schema)

    def add_gaze(self, faces, windows, model=None):
        """Run the gaze model (``model`` or ``gaze``) on ``windows`` (per face: a list of views dicts, or None)
        and put each answer into its face record as ``gaze``; returns the answers (None where a face has none)."""
        model = model or self.gaze
        idx = [k for k, w in enumerate(windows) if w is not None]
        samples = [model.sample([views for views, _ in windows[k]]) for k in idx]
        centre = [windows[k][len(windows[k]) // 2][1] for k in idx]
        answers = model.answers(model.predict(samples), centre)
        out = [None] * len(windows)
        for k, a in zip(idx, answers):
            if self.calibration is not None:
                self.calibration.apply(a)
            faces[k]["gaze"] = out[k] = a
        return out

    def place_gaze(self, face, rt):
        """The final gaze answer's place: ``origin_mm`` (the face centre in the camera's frame, where the gaze
        starts) and, with ``screen``, the ``screen`` point it meets."""
        if "gaze" not in face or rt is None:
            return
        origin = gazeviews.centre_of(*rt)
        face["gaze"]["origin_mm"] = np.round(origin, 1).tolist()
        if self.screen is not None:
            face["gaze"]["screen"] = self.screen.look(origin, face["gaze"]["vector"])

    # -------------------------------------------------------------------------------------------- drawing

    def draw(self, image, faces):
        """Draw ``faces`` (``Face`` objects) on ``image`` in place: box, points, track id and face score,
        head-pose axes (red x, green y, blue the facing direction), gaze arrows and cones; returns it."""
        for face in faces:
            self.draw_face(image, face.record, face.pose_rt)
        return image

    def draw_face(self, image, face, pose_rt):
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


class _Pending:
    """A video's frames until their answers are complete: Gaze360's windows need the frames after a frame,
    and the fixed-lag smoother revises a frame's points with the ``lag`` frames after it, so frames wait
    ``delay`` frames; then their gaze is answered and smoothed and the frame comes out as a ``VideoFrame``."""

    def __init__(self, an, label, fps, lag=0):
        self.an, self.label, self.fps = an, label, fps
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

    @staticmethod
    def waits(an, lag):
        """Frames a frame waits for those after it: the smoother's lag or Gaze360's half window, the longer (the
        point filters keep that many frames, so a lag shorter than the window still revises its frame)."""
        return max(an.gaze.half if an.gaze is not None else 0, lag)

    def add(self, index, t, frame, faces, smoothers=None, captured=None):
        """Frame ``index`` at ``t`` s with its faces: (record, points, (R, t) or None, track id); ``smoothers``:
        {track id: point filter} whose ``smoothed(t)`` revises the points when the frame is finished.  Yields
        the frames now finished."""
        if smoothers:
            self.smoothers[index] = smoothers
        if self.an.gaze is not None:
            for face, points, rt, tid in faces:
                views = self.an.gaze_views(frame, points, rt)
                if views is not None:
                    self.history.setdefault(tid, {})[index] = views
        self.pending.append((index, t, frame, faces, captured))
        while self.pending and self.pending[0][0] <= index - self.delay:
            yield self._finish(self.pending.popleft())
        for hist in self.history.values():
            for k in [k for k in hist if k < index - 2 * self.delay - 1]:
                del hist[k]

    def close(self):
        while self.pending:
            yield self._finish(self.pending.popleft())

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
        index, t, frame, faces, captured = entry
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
        out = []
        for face, points, rt, _ in faces:
            an.place_gaze(face, rt)
            out.append(Face(face, points, rt))
        return VideoFrame(index, t, frame, out, self.fps, captured)
