"""Gaze from a photo: each gaze export gets the input it was trained on, built from the face's landmarks, head
pose and camera (``recordio.gazeviews``), and its answer is turned back into the real camera's frame.

>>> gm = GazeModel("runs/mpii/run/model")
>>> views, view = gm.views(photo, K, R, t, points, "course21")   # one face
>>> answer = gm.answers(gm.predict([gm.sample([views])]), [view])[0]
>>> answer["vector"], answer["pitch"], answer["yaw"]

Camera frame (``recordio.geometry``): x right, y down, z forward; looking straight into the camera is
(0, 0, -1).  ``pitch`` and ``yaw`` (degrees) are MPIIFaceGaze's angles of that vector: pitch > 0 looks up,
yaw > 0 looks towards the image's left (the person's right).
"""
import numpy as np

from deploy.gazecal import direction
from recordio import gazeviews, geometry
from recordio.gazeviews import VIEW_KINDS
from recordio.schema import GAZE_DATASETS, gaze_dataset, gaze_point_indices


class GazeModel:
    """A gaze export and the recipe for its input.

    Parameters
    ----------
    prefix : the export (``RUN_DIR/model``).
    ctx : MXNet context(s), as ``Predictor``.
    backend : as ``Predictor`` (int8 needs calibration inputs, which a gaze model here is not given).
    """

    def __init__(self, prefix, ctx=None, backend=None):
        from deploy.predictor import Predictor
        self.predictor = Predictor(prefix, ctx=ctx, backend=backend)
        meta = self.predictor.meta
        if meta.get("task") != "gaze":
            raise ValueError("%s is a %s model, not a gaze model" % (prefix, meta.get("task")))
        if meta.get("dataset") not in GAZE_DATASETS:
            raise ValueError("%s: gaze dataset %r unknown (valid: %s)" % (prefix, meta.get("dataset"),
                                                                        ", ".join(GAZE_DATASETS)))
        self.dataset = gaze_dataset(meta["dataset"])
        # the export records the view it was trained on; exports from before it did take the dataset's
        self.view = dict(meta["input"].get("view") or self.dataset.view)
        if self.view.get("kind") not in VIEW_KINDS:
            raise ValueError("%s takes input %r, which deploy/gaze.py cannot build (it builds %s)"
                             % (prefix, self.view.get("kind"), ", ".join(VIEW_KINDS)))
        self.tiles = meta["input"]["tiles"]
        self.frames = sum(1 for t in self.tiles if t["name"].startswith("frame"))
        self.half = self.frames // 2
        self.head_crop = meta["input"].get("head_crop")
        self.name = meta.get("model")
        self.prefix = prefix

    @property
    def kind(self):
        return self.view["kind"]

    def check_schema(self, schema):
        """Raise ValueError when landmarks of ``schema`` lack the points this model's input is built from."""
        gaze_point_indices(schema)

    def views(self, image, K, R, t, points, schema):
        """The views of one face: ({tile name or "frame": image}, ``gazeviews.View``)
        (``gazeviews.face_views``, which the photo packer cuts training faces with).

        ``R, t``: head pose (``headpose.head_pose_from_landmarks``); ``points`` (K, 2): its landmarks in
        ``image`` px, of ``schema``.
        """
        return gazeviews.face_views(image, K, R, t, points, schema, self.view, self.head_crop)

    def sample(self, window):
        """One network input (C, H, W) from a face's views: ``window`` is a list of views dicts, one per frame
        (oldest first, ``frames`` long for Gaze360 models; a single dict is repeated)."""
        if self.frames:
            try:
                views = gazeviews.window_views(window, self.frames)
            except ValueError as e:
                raise ValueError("%s: %s" % (self.name, e))
        else:
            views = window[0]
        canvas = gazeviews.tile(views, self.tiles)
        return self.predictor.prepare(canvas)

    def predict(self, samples):
        """Network outputs (list of arrays) for a list of samples."""
        if not samples:
            return None
        return self.predictor.raw(np.stack(samples))

    def answers(self, outputs, views):
        """Per face, the gaze in the real camera's frame: ``vector``, ``pitch`` and ``yaw`` (degrees),
        ``sigma`` (degrees, the 10-90% interval's half-width where the model has one), and for MC4 the head
        direction and the eye-in-head angles."""
        if outputs is None:
            return []
        ds = self.dataset
        vectors = ds.output_vectors(outputs)
        out = []
        for k, v in enumerate(views):
            a = direction(v.to_camera(vectors[k]))
            if ds.sigma:
                a["sigma"] = round(float(np.degrees(np.mean(outputs[ds.gaze_output][k, 2:3]))), 2)
            for name, index in ds.parts:
                angles = np.asarray(outputs[index][k, :2], np.float64)
                if name == "head":
                    h = geometry.unit(v.to_camera(ds.to_vector(angles[None])[0]))
                    a["head_vector"] = np.round(h, 5).tolist()
                elif name == "eye":
                    a["eye_in_head"] = {"lo": round(float(angles[0]), 2), "la": round(float(angles[1]), 2)}
            out.append(a)
        return out


def eye_centres(R, t):
    """The two eyes' centres (camera frame, mm): each the midpoint of its corners on the mean face."""
    from recordio.schema import GAZE_POINTS
    c = gazeviews.model_points(R, t)[list(GAZE_POINTS[:4])]
    return np.stack([c[:2].mean(0), c[2:].mean(0)])
