"""Face detectors: a photo in, face boxes and scores out, in the annotators' box convention.

Backends (``make_detector``), every one's weights inside a pinned wheel or given by the user; nothing is
downloaded:

- ``haar``: OpenCV's Haar cascades shipped in opencv-python, the frontal one and the profile one run on the
  photo and on its mirror image (the profile cascade finds faces turned one way only);
- ``dlib``: dlib's HOG detector compiled into the dlib-bin wheel (five sub-detectors: frontal, turned left
  and right, rolled left and right);
- ``mtcnn``: MTCNN's three-network cascade in MXNet, its trained weights read from the ``mtcnn`` wheel
  (``deploy/mtcnn.py``);
- ``yunet``: OpenCV's YuNet through ``cv2.FaceDetectorYN``, from the ``.onnx`` file the user passes;
- ``mxnet``: a detector the project trains, loaded from its export (``train/train_detector.py``);
- ``boxes``: the boxes of a label file (course21, WFLW, COCO), as ``deploy/predict.py`` takes them;
- a union, e.g. ``dlib+haar``: the first backend's faces, then the others' faces it did not find;
- a backend on turned photos as well, e.g. ``mtcnn@35``: its faces on the photo, then those it finds on the
  photo turned by -35 and +35 degrees (faces rolled beyond what it was trained on) that it did not find
  upright.

A detector's boxes follow its own convention (Haar's are tight squares, dlib's cut the forehead): each
backend's box map (``geometry.map_box``), fitted on the course21 training photos by
``tools/fit_boxmap.py`` and kept in ``deploy/detectors/boxmaps.json``, turns them into the boxes the course's
annotators draw, so the landmark model sees the crops it was trained on.
"""
import os

import numpy as np

from deploy.detector_base import (BOXMAPS, NMS_IOU, POINTS_MAP, UNION_IOU, Detections, Detector,  # noqa: F401
                                  load_box_maps, merge_new, nms, points_map, refit_boxes)
from recordio import geometry

BACKENDS = ("haar", "dlib", "mtcnn", "yunet", "mxnet", "boxes")


class HaarDetector(Detector):
    """OpenCV's frontal Haar cascade and its profile cascade on the photo and its mirror image, merged by
    NMS; scores are the cascades' level weights."""

    name = "haar"
    min_score = 1.0

    def __init__(self, box_map=None, min_size=20, scale_factor=1.1, min_neighbours=4):
        import cv2
        super().__init__(box_map)
        root = cv2.data.haarcascades
        self.frontal = cv2.CascadeClassifier(os.path.join(root, "haarcascade_frontalface_default.xml"))
        self.profile = cv2.CascadeClassifier(os.path.join(root, "haarcascade_profileface.xml"))
        if self.frontal.empty() or self.profile.empty():
            raise RuntimeError("the Haar cascades in %s do not load" % root)
        self.kw = dict(scaleFactor=scale_factor, minNeighbors=min_neighbours, minSize=(min_size, min_size),
                       outputRejectLevels=True)

    def _run(self, cascade, gray):
        rects, _, weights = cascade.detectMultiScale3(gray, **self.kw)
        rects = np.asarray(rects, np.float64).reshape(-1, 4)
        return np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], 1), np.asarray(weights, np.float64).ravel()

    def raw(self, image):
        import cv2
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image)
        w = gray.shape[1]
        found = [self._run(self.frontal, gray), self._run(self.profile, gray)]
        mb, ms = self._run(self.profile, np.ascontiguousarray(gray[:, ::-1]))
        found.append((np.stack([w - mb[:, 2], mb[:, 1], w - mb[:, 0], mb[:, 3]], 1), ms))  # mirrored back
        boxes = np.concatenate([b for b, _ in found])
        scores = np.concatenate([s for _, s in found])
        keep = nms(boxes, scores)
        return boxes[keep], scores[keep]


class DlibDetector(Detector):
    """dlib's HOG face detector (in the dlib-bin wheel), the photo upsampled ``upsample`` times first (each
    doubles it: faces down to about 40 px at 1); scores are its detection scores."""

    name = "dlib"
    min_score = 0.0

    def __init__(self, box_map=None, upsample=1, threshold=-0.5):
        import dlib
        super().__init__(box_map)
        self.detector = dlib.get_frontal_face_detector()
        self.upsample, self.threshold = upsample, threshold
        self.min_score = threshold

    def raw(self, image):
        import cv2
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image
        rects, scores, _ = self.detector.run(rgb, self.upsample, self.threshold)
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float64)
        return boxes.reshape(-1, 4), np.asarray(scores, np.float64)


class UnionDetector(Detector):
    """Several backends in turn (``dlib+haar``): every face of the first, then each next backend's faces that
    no earlier one found (IoU < ``UNION_IOU`` in the annotators' convention, each backend's own box map
    applied).  Scores keep each backend's own scale.  dlib+haar adds to dlib's HOG faces the profiles and
    small faces the Haar cascades find (README, "Photos and video")."""

    def __init__(self, members):
        self.members = list(members)
        self.name = "+".join(m.name for m in self.members)
        self.box_map = None

    def detect(self, image):
        return merge_new((d.raw, d.boxes, d.scores) for d in (m.detect(image) for m in self.members))


def network_backends(detector):
    """{"mtcnn pnet": {"backend", "timings_ms"}, ...}: the networks inside ``detector`` (unions and turned
    detectors included) that chose their backend (MTCNN's)."""
    found = {}
    if getattr(detector, "backends", None):
        found.update({"%s %s" % (detector.name, net): {"backend": b, "timings_ms": detector.timings.get(net)}
                      for net, b in detector.backends.items()})
    for part in list(getattr(detector, "members", [])) + [getattr(detector, "base", None)]:
        if part is not None:
            found.update(network_backends(part))
    return found


class TurnedDetector(Detector):
    """A backend on the photo and on the photo turned by each of ``angles`` (degrees, clockwise; ``name@35``
    turns by -35 and +35): a detector trained on upright faces finds rolled ones on a turned photo.  The
    turned passes run on threads beside the upright one where the backend is ``thread_safe`` (MTCNN on ONNX
    Runtime).  Every
    face found upright, then each turned pass's faces no earlier pass found (IoU < ``UNION_IOU``).  A turned
    face's box (the box map applied in the turned photo) keeps its size, its centre turned back (the landmark
    model turns a rolled face's crop upright itself, ``Predictor(upright=)``)."""

    def __init__(self, base, angles):
        self.base, self.angles = base, [float(a) for a in angles]
        self.name = "%s@%s" % (base.name, "/".join("%g" % a for a in sorted({abs(a) for a in self.angles})))
        self.box_map = None
        self._pool = None
        self.turned_base = base.for_turned()  # MTCNN: a coarser pyramid

    def turned(self, image, angle):
        """(raw, boxes (N, 4) in photo px in the annotators' convention, scores) found on ``image`` turned by
        ``angle`` degrees about its centre on a canvas holding all of it."""
        h, w = image.shape[:2]
        a = np.radians(angle)
        cw, ch = abs(w * np.cos(a)) + abs(h * np.sin(a)), abs(w * np.sin(a)) + abs(h * np.cos(a))
        turn = geometry.similarity_affine((w / 2.0, h / 2.0), angle, 1.0, ((cw - w) / 2.0, (ch - h) / 2.0))
        d = self.turned_base.detect(geometry.warp(image, turn, int(np.ceil(cw)), int(np.ceil(ch))))
        back = geometry.invert_affine(turn)

        def turned_back(boxes):
            centres = geometry.apply_affine(back, (boxes[:, :2] + boxes[:, 2:]) / 2.0)
            half = (boxes[:, 2:] - boxes[:, :2]) / 2.0
            return np.concatenate([centres - half, centres + half], 1)
        return turned_back(d.raw), turned_back(d.boxes), d.scores

    def detect(self, image):
        if not self.base.thread_safe:
            d = self.base.detect(image)
            return merge_new([(d.raw, d.boxes, d.scores)] + [self.turned(image, a) for a in self.angles])
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(len(self.angles), thread_name_prefix="turned")
        turned = [self._pool.submit(self.turned, image, a) for a in self.angles]  # the networks release the GIL
        d = self.base.detect(image)
        return merge_new([(d.raw, d.boxes, d.scores)] + [t.result() for t in turned])


class YuNetDetector(Detector):
    """OpenCV's YuNet (``cv2.FaceDetectorYN``) from the user's ``.onnx`` file; scores in [0, 1].  Its boxes are
    YuNet's own (tight, from its training data), so it needs a box map fitted with its weights
    (``tools/fit_boxmap.py yunet``); the repository cannot ship one, having no weights to fit it on."""

    name = "yunet"
    min_score = 0.6

    def __init__(self, model, box_map=None, nms_iou=0.3, top_k=5000):
        import cv2
        from recordio.errors import MissingFile
        super().__init__(box_map)
        if not model or not os.path.isfile(model):
            raise MissingFile("yunet needs its .onnx file (--yunet PATH, e.g. face_detection_yunet_2023mar.onnx "
                              "from OpenCV's model zoo); nothing is downloaded: %s not found" % model)
        self.require_box_map("python tools/fit_boxmap.py yunet COURSE_DIR --yunet %s" % model)
        self.net = cv2.FaceDetectorYN.create(model, "", (320, 320), self.min_score, nms_iou, top_k)

    def raw(self, image):
        h, w = image.shape[:2]
        self.net.setInputSize((w, h))
        _, faces = self.net.detect(image)
        faces = np.zeros((0, 15)) if faces is None else np.asarray(faces, np.float64)
        return np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], 1), faces[:, 14]


def _parts(path):
    """A path's components, normalised ("a/./b.jpg" and "a\\b.jpg" -> ["a", "b.jpg"])."""
    return [p for p in os.path.normpath(str(path).replace("\\", "/")).split(os.sep) if p not in ("", ".")]


class BoxesDetector(Detector):
    """The annotated boxes of a label file, by photo.  A photo is the label file's image whose path (as the
    label file gives it, beside the label file) is the photo's own file; failing that, the one image name that
    ends the photo's path (``0--Parade/x.jpg`` for ``WFLW_images/0--Parade/x.jpg``).  A photo the label file
    does not name, or names ambiguously, is an error (``for_photo``), never a photo without faces."""

    name = "boxes"

    def __init__(self, labels, label_format):
        from recordio import labelfiles
        super().__init__(box_map=(0.0, 0.0, 1.0, 1.0))
        readers = {"course21": labelfiles.read_course21, "wflw": labelfiles.read_wflw, "coco": labelfiles.read_coco}
        self.labels = labels
        entries, self.errors = readers[label_format](labels)
        self.by_name = {}  # image name as the label file gives it -> its boxes, each face once
        for e in entries:
            if e.box is not None:
                self.by_name.setdefault(e.image, []).append(e.box)
        here = os.path.dirname(os.path.abspath(labels))
        self.by_file = {os.path.realpath(os.path.join(here, n)): n for n in self.by_name}
        self.current = None

    def name_of(self, path):
        """The label file's name for the photo at ``path``; BadInput when it has none or several."""
        from recordio.errors import BadInput
        real = os.path.realpath(path)
        if real in self.by_file:
            return self.by_file[real]
        parts = _parts(path)
        ends = [n for n in self.by_name if len(_parts(n)) <= len(parts) and parts[len(parts) - len(_parts(n)):]
                == _parts(n)]
        longest = max((len(_parts(n)) for n in ends), default=0)
        ends = [n for n in ends if len(_parts(n)) == longest]
        if len(ends) == 1:
            return ends[0]
        if not ends:
            raise BadInput("%s is not in the label file %s (no line names it): no boxes to answer"
                           % (path, self.labels))
        raise BadInput("%s matches several images of %s (%s): give the photos by the paths the label file uses"
                       % (path, self.labels, ", ".join(sorted(ends)[:4])))

    def for_photo(self, path):
        """Select the photo whose boxes ``raw`` gives next (BadInput when the label file does not name it)."""
        self.current = self.by_name[self.name_of(path)]
        return self

    def raw(self, image):
        boxes = np.asarray(self.current or [], np.float64).reshape(-1, 4)
        return boxes, np.ones(len(boxes))


def make_detector(name, yunet=None, mxnet=None, labels=None, label_format="course21", box_map=None, backend=None,
                  **kwargs):
    """The detector called ``name`` (``BACKENDS``); ``yunet``: its .onnx file, ``mxnet``: a detector export,
    ``labels`` and ``label_format``: the label file of ``boxes``; ``backend``: what runs MTCNN's networks
    (``deploy.mtcnn.BACKENDS``; None: ``auto``, the faster one measured at load)."""
    if "+" in name:
        members = name.split("+")
        if "boxes" in members or len(set(members)) != len(members):
            raise ValueError("a union of detectors (%s) takes distinct detecting backends, not boxes" % name)
        return UnionDetector(make_detector(m, yunet=yunet, mxnet=mxnet, backend=backend) for m in members)
    if "@" in name:
        base, _, degrees = name.partition("@")
        try:
            angles = [float(a) for a in degrees.split("/") if a]
        except ValueError:
            angles = []
        if base == "boxes" or not angles or any(not 0 < a < 180 for a in angles):
            raise ValueError("%s: a detecting backend turned by degrees between 0 and 180, e.g. mtcnn@35 or "
                             "mtcnn@25/50" % name)
        return TurnedDetector(make_detector(base, yunet=yunet, mxnet=mxnet, box_map=box_map, backend=backend,
                                            **kwargs), [s * a for a in angles for s in (-1, 1)])
    if name == "haar":
        return HaarDetector(box_map, **kwargs)
    if name == "dlib":
        return DlibDetector(box_map, **kwargs)
    if name == "mtcnn":
        from deploy.mtcnn import MTCNNDetector
        return MTCNNDetector(box_map, backend=backend or "auto", **kwargs)
    if name == "yunet":
        return YuNetDetector(yunet, box_map, **kwargs)
    if name == "mxnet":
        from deploy.mxdetect import MXNetDetector
        return MXNetDetector(mxnet, box_map, **kwargs)
    if name == "boxes":
        if not labels:
            raise ValueError("the boxes backend needs a label file (--boxes LABELFILE)")
        return BoxesDetector(labels, label_format)
    raise ValueError("unknown detector %r; valid: %s" % (name, ", ".join(BACKENDS)))
