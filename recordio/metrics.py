"""Evaluation metrics: NME, FR, AUC, angular error, per-class accuracy (numpy only)."""
import numpy as np

from .geometry import FORWARD, angular_error_deg
from .schema import WFLW_ATTRIBUTES, gaze_dataset, get_schema

FAILURE_THRESHOLD = 0.1  # NME above which a face counts as a failure (FR@0.1, AUC@0.1)


def nme(pred, gt, schema):
    """Normalised mean error per face.

    Parameters
    ----------
    pred, gt : (N, K, 2) points in the same pixel frame.
    schema : LandmarkSchema or name; its ``norm_pair`` (outer eye corners of
        the ground truth) normalises.

    Returns
    -------
    (N,) mean point-to-point distance / inter-ocular distance.
    """
    schema = get_schema(schema) if isinstance(schema, str) else schema
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, schema.num_points, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, schema.num_points, 2)
    i, j = schema.norm_pair
    norm = np.linalg.norm(gt[:, i] - gt[:, j], axis=-1)
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    return err / np.maximum(norm, 1e-9)


def box_nme(pred, gt, boxes):
    """Box-normalised error per face (AFLW's): mean point-to-point distance / sqrt(box width x height).

    It stays finite where the inter-ocular distance vanishes (profiles).  ``boxes`` (N, 4) x1, y1, x2, y2 in
    the same pixel frame as the points.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64).reshape(pred.shape)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    side = np.sqrt(np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9))
    return np.linalg.norm(pred - gt, axis=-1).mean(-1) / side


# Bins of the tail: |yaw| and |roll| in degrees from the annotated points (the label's ``euler``), and the
# annotated box's width in photo pixels.
POSE_BINS = (("frontal", 0.0, 30.0), ("half", 30.0, 60.0), ("profile", 60.0, 181.0))
ROLL_BINS = (("upright", 0.0, 30.0), ("rolled", 30.0, 181.0))
SIZE_BINS = (("<40px", 0.0, 40.0), ("40-80px", 40.0, 80.0), ("80-160px", 80.0, 160.0), (">=160px", 160.0, np.inf))


def landmark_breakdown(nmes, euler, boxes, box_nmes=None):
    """``landmark_report`` per pose bin (|yaw|), roll bin (|roll|) and face size (box width, px).

    Parameters
    ----------
    nmes : (N,) NME per face (``UNANSWERED`` for faces without points).
    euler : (N, 3) pitch, yaw, roll in degrees from the annotated points.
    boxes : (N, 4) annotated boxes in photo px.
    box_nmes : (N,) optional box-normalised errors, averaged per bin too.
    """
    nmes = np.asarray(nmes, dtype=np.float64)
    euler = np.asarray(euler, dtype=np.float64).reshape(-1, 3)
    width = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) @ [-1.0, 0.0, 1.0, 0.0]
    out = {}
    for group, value, bins in (("pose", np.abs(euler[:, 1]), POSE_BINS), ("roll", np.abs(euler[:, 2]), ROLL_BINS),
                               ("size", width, SIZE_BINS)):
        out[group] = {}
        for name, lo, hi in bins:
            sel = (value >= lo) & (value < hi)
            if sel.any():
                rep = landmark_report(nmes[sel])
                if box_nmes is not None:
                    finite = sel & np.isfinite(nmes)
                    rep["box_nme"] = float(np.mean(np.asarray(box_nmes)[finite])) if finite.any() else float("nan")
                out[group][name] = rep
    return out


def failure_rate(nmes, threshold=FAILURE_THRESHOLD):
    """Share of faces with NME above ``threshold``."""
    nmes = np.asarray(nmes, dtype=np.float64)
    return float(np.mean(nmes > threshold)) if nmes.size else float("nan")


def auc(nmes, threshold=FAILURE_THRESHOLD):
    """Area under the cumulative error curve up to ``threshold``, normalised to 1.

    Equal to ``mean(max(0, 1 - NME / threshold))``.
    """
    nmes = np.asarray(nmes, dtype=np.float64)
    return float(np.mean(np.clip(1.0 - nmes / threshold, 0.0, None))) if nmes.size else float("nan")


UNANSWERED = float("inf")  # the NME of a face that got no points (not detected, or judged non-face)


def landmark_report(nmes, attributes=None):
    """Mean/median NME, FR@0.1 and AUC@0.1, plus per WFLW attribute subset when given.

    A face without an answer has NME ``UNANSWERED`` (inf): it counts as a failure in FR, adds 0 to AUC,
    sits at the top of the median, and is left out of the mean (``nme`` is the mean over answered faces;
    ``unanswered`` counts the others).
    """
    nmes = np.asarray(nmes, dtype=np.float64)
    answered = nmes[np.isfinite(nmes)]
    out = {"count": int(nmes.size), "nme": float(answered.mean()) if answered.size else float("nan"),
           "nme_median": float(np.median(nmes)) if nmes.size else float("nan"),
           "fr": failure_rate(nmes), "auc": auc(nmes), "unanswered": int(nmes.size - answered.size)}
    if attributes is not None:
        attributes = np.asarray(attributes).reshape(len(nmes), -1)
        for k, name in enumerate(WFLW_ATTRIBUTES):
            sel = attributes[:, k] > 0.5
            if sel.any():
                out[name] = {"count": int(sel.sum()), "nme": float(nmes[sel].mean()),
                             "fr": failure_rate(nmes[sel]), "auc": auc(nmes[sel])}
    return out


def angular_errors(pred_vectors, gt_vectors):
    """Per-sample angular error in degrees between direction vectors (N, 3)."""
    return angular_error_deg(pred_vectors, gt_vectors)


def angular_report(errors):
    e = np.asarray(errors, dtype=np.float64)
    return {"count": int(e.size), "mean": float(e.mean()) if e.size else float("nan"),
            "median": float(np.median(e)) if e.size else float("nan")}


def classification_report(pred, truth):
    """Accuracy overall and separately on positives (truth 1) and negatives (truth 0)."""
    pred = np.asarray(pred).astype(bool).ravel()
    truth = np.asarray(truth).astype(bool).ravel()
    ok = pred == truth

    def acc(sel):
        return float(ok[sel].mean()) if sel.any() else float("nan")

    return {"accuracy": acc(np.ones_like(ok)), "positives": acc(truth), "negatives": acc(~truth),
            "count_positive": int(truth.sum()), "count_negative": int((~truth).sum())}


FRONT_FACING_DEG = 20.0  # Gaze360's "front-facing" subset: gaze within 20 degrees of the camera


def gaze_report(dataset, outputs, labels, layout):
    """Angular errors of a gaze network on labelled records of a gaze dataset (``schema.GazeDataset`` or name).

    Mean and median angular error for every dataset, the error of each further part the dataset scores
    (MC4: head and eye); datasets with front subsets (Gaze360) add the error on the front 180 degrees and
    on front-facing gaze (within 20 degrees of the camera); a network with sigma adds the share of true
    angles inside the predicted 10-90% interval (angle +- sigma).  Records with ``has_label == 0`` are
    left out; {} when none is labelled.
    """
    ds = gaze_dataset(dataset) if isinstance(dataset, str) else dataset
    labelled = layout.get(labels, "has_label")[:, 0] > 0.5
    if not labelled.any():
        return {}
    outputs = [np.asarray(o)[labelled] for o in outputs]
    labels = np.asarray(labels)[labelled]
    truth = layout.get(labels, "gaze_vector")
    err = angular_errors(ds.output_vectors(outputs), truth)
    out = {"count": int(len(err)), "angular_error": float(err.mean()), "angular_error_median": float(np.median(err))}
    for name, k in ds.parts:
        e = angular_errors(ds.to_vector(outputs[k][:, :2]), ds.to_vector(layout.get(labels, name)))
        out[name + "_error"] = float(e.mean())
    if ds.front_subsets:
        to_camera = angular_errors(truth, np.tile(FORWARD, (len(truth), 1)))
        for name, sel in (("front180", to_camera < 90.0), ("front_facing", to_camera < FRONT_FACING_DEG)):
            out["angular_error_" + name] = float(err[sel].mean()) if sel.any() else float("nan")
    if ds.sigma:
        pred, sigma = ds.output_angles(outputs), outputs[ds.gaze_output][:, 2:3]
        gt = layout.get(labels, "gaze")
        out["interval_coverage"] = float(((gt >= pred - sigma) & (gt <= pred + sigma)).mean())
    return out


def detection_report(preds, truths, score_threshold=0.5, iou=0.5):
    """Face detection quality over photos.

    Parameters
    ----------
    preds : per photo (boxes (n, 4), scores (n,)).
    truths : per photo boxes (m, 4), same pixel frame.

    Returns
    -------
    dict: ``ap50`` (all-point interpolated average precision at IoU >= ``iou``), ``recall`` and
    ``false_per_photo`` counting the detections scored >= ``score_threshold``, ``faces``, ``photos``.
    Detections are matched greedily by score, each true box at most once.
    """
    from .geometry import box_iou
    scored, n_truth, tp_at, fp_at = [], 0, 0, 0
    for (boxes, scores), truth in zip(preds, truths):
        boxes, scores = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(scores, np.float64).reshape(-1)
        truth = np.asarray(truth, np.float64).reshape(-1, 4)
        n_truth += len(truth)
        overlap = box_iou(boxes, truth) if len(boxes) and len(truth) else np.zeros((len(boxes), len(truth)))
        free = np.ones(len(truth), bool)
        for i in np.argsort(-scores):
            cand = np.where(free & (overlap[i] >= iou))[0]
            hit = len(cand) > 0
            if hit:
                free[cand[np.argmax(overlap[i, cand])]] = False
            scored.append((scores[i], hit))
            if scores[i] >= score_threshold:
                tp_at, fp_at = tp_at + hit, fp_at + (not hit)
    ap = 0.0
    if scored and n_truth:
        hits = np.array([h for _, h in sorted(scored, key=lambda sh: -sh[0])], float)
        tp, fp = np.cumsum(hits), np.cumsum(1 - hits)
        recall, precision = tp / n_truth, tp / np.maximum(tp + fp, 1e-9)
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # the precision envelope
        ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
    return {"ap50": ap, "recall": tp_at / max(n_truth, 1), "false_per_photo": fp_at / max(len(truths), 1),
            "faces": int(n_truth), "photos": len(truths)}
