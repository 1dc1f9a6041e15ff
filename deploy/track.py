"""Faces through a video: tracks whose points give their box in the next frame, and One-Euro smoothing.

A track starts at a detection, whose box (in the annotators' convention) fixes the track's box.  In each
next frame the face's points move and scale that box: by how far their tight box has moved and grown since
the frame of the detection (so a model that draws the points a little inward cannot shrink the box frame
after frame: only changes count).  The detector is needed only every ``detect_every`` frames, as soon as a
track's face_score falls below ``refresh_score``, and when a track is lost (face_score below the stage-3
threshold, or the box leaves the frame); a detection that overlaps a track (IoU >= 0.3) renews its box and
keeps its id.

Points are smoothed by a constant-velocity Kalman filter by default: it carries each point's speed forward,
so steady head motion is followed without the lag a low-pass filter adds (on rendered video with the shipped
model: jitter x0.62 of raw for 3.5% more NME, every face kept, against x0.64 and 18% for the One-Euro filter,
which answered 1.5% fewer faces as its lagging points moved the next crop off the face; README.md).

One-Euro filter (Casiez, Roussel and Vogel, CHI 2012): per coordinate, a low-pass filter whose cut-off
rises with speed, ``cutoff = min_cutoff + beta * |speed|``: still points are smoothed hard (jitter goes),
moving ones follow with little lag.  Here speed is measured in face sizes per second (the track's box
width), so one ``beta`` serves faces near and far; head-pose angles use degrees per second.
"""
import math

import numpy as np

from recordio import geometry

TRACK_IOU = 0.3  # a detection this close to a track renews it (and keeps its id)


class OneEuroFilter:
    """One-Euro filter of an array-valued signal sampled at irregular times.

    Parameters
    ----------
    min_cutoff : Hz, the cut-off of a still signal (lower: smoother, more lag when it starts moving).
    beta : how fast the cut-off rises with speed (per unit of ``scale`` per second).
    d_cutoff : Hz, the cut-off of the speed estimate.
    """

    def __init__(self, min_cutoff=1.0, beta=1.0, d_cutoff=1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x, t, scale=1.0):
        """The filtered value of ``x`` at time ``t`` seconds; speeds are divided by ``scale`` (e.g. face size)."""
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self.t
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx) / max(scale, 1e-9)
        a = 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))
        self.x = a * x + (1 - a) * self.x
        self.t = t
        return self.x.copy()


# The Kalman filter's defaults, analyze.py's too: set on rendered video (README): noise follows the shipped
# model's frame-to-frame error (0.05 suited the model shipped before, 0.03 the ensemble shipped now)
KALMAN_ACCEL, KALMAN_NOISE, KALMAN_JUMP = 0.7, 0.03, 4.0
KALMAN_LAG = 4  # video files: frames after a frame that revise its points (KalmanFilter.smoothed)


class KalmanFilter:
    """Constant-velocity Kalman filter of an array-valued signal sampled at irregular times.

    Each coordinate is a position and a speed; between frames the speed changes by white-noise acceleration
    of density ``accel``; each frame measures the position with noise of standard deviation ``noise``.
    Both are in units of ``scale`` (a face size for points), so one setting serves faces near and far.  Unlike
    a low-pass filter it carries the estimated speed forward, so a face moving steadily is followed without
    lag while a still one is smoothed: on rendered video it halves the jitter for less added error than the
    One-Euro filter (README, "Photos and video").

    Parameters
    ----------
    accel : how fast the motion may change, scale units / s^1.5 (higher: follows sooner, smooths less).
    noise : the landmark model's point error from frame to frame, scale units.
    jump : points further than this many standard deviations from where the motion predicts them (root mean
        square over coordinates) restart the filter there, so a sudden jump is followed at once instead of
        overshooting.
    speed0 : the spread of a new track's unknown speed, scale units / s.
    """

    # The next frame's box follows the model's raw answer, not this filter's: a box from filtered points
    # closes a loop (box, crop, points, filter, box) that a filter carrying speed forward makes ring
    # (measured on rendered video: jitter about x0.65 of raw instead of x0.5).  The One-Euro filter, a plain
    # low-pass, is steadier inside the loop, so its box follows its own output.
    box_from_raw = True

    def __init__(self, accel=KALMAN_ACCEL, noise=KALMAN_NOISE, jump=KALMAN_JUMP, speed0=0.5, keep=0):
        self.accel, self.noise, self.jump, self.speed0 = accel, noise, jump, speed0
        self.x = self.v = self.P = self.t = None
        self.keep = keep  # frames of history kept for ``smoothed`` (0: none)
        # [t, x, v, P, dt, C] at each frame since the last restart: the filtered state, and the time to the next
        # frame with the smoother's gain back from it (set when that frame comes; the same for every coordinate)
        self.history = []

    def _remember(self, F=None, prior=None):
        if self.keep:
            if F is None:  # a restart: nothing before it explains what follows
                self.history = []
            elif self.history:
                last = self.history[-1]
                (a, b), (c, d) = prior  # 2 x 2: its inverse in closed form (no LAPACK call per frame)
                inverse = np.array([[d, -b], [-c, a]]) / (a * d - b * c)
                last[4], last[5] = F[0, 1], last[3] @ F.T @ inverse
            self.history.append([self.t, self.x.copy(), self.v.copy(), self.P.copy(), None, None])
            del self.history[:-self.keep]

    def smoothed(self, t, lag=None):
        """The value at the earlier frame time ``t`` given the frames filtered since, at most ``lag`` of them
        (None: every one kept): a fixed-lag Rauch-Tung-Striebel smoother over the kept history, no further back
        than the last restart.  None when ``t`` is no longer kept."""
        times = [h[0] for h in self.history]
        if t not in times:
            return None
        i = times.index(t)
        end = len(self.history) - 1 if lag is None else min(len(self.history) - 1, i + lag)
        x, v = self.history[end][1], self.history[end][2]
        for _, xj, vj, _, dt, C in reversed(self.history[i:end]):
            dx, dv = x - (xj + dt * vj), v - vj
            x, v = xj + C[0, 0] * dx + C[0, 1] * dv, vj + C[1, 0] * dx + C[1, 1] * dv
        return x.copy()

    def __call__(self, z, t, scale=1.0):
        """The filtered value of ``z`` at time ``t`` seconds; noise and acceleration scale with ``scale``."""
        z = np.asarray(z, dtype=np.float64)
        r2 = (self.noise * scale) ** 2
        if self.x is not None and t > self.t:
            dt = t - self.t
            F = np.array([[1.0, dt], [0.0, 1.0]])
            Q = (self.accel * scale) ** 2 * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
            P = F @ self.P @ F.T + Q  # the same for every coordinate
            residual = z - (self.x + self.v * dt)
            if np.sqrt(np.mean(residual ** 2)) <= self.jump * np.sqrt(P[0, 0] + r2):
                gain = P[:, 0] / (P[0, 0] + r2)
                self.x = self.x + self.v * dt + gain[0] * residual
                self.v = self.v + gain[1] * residual
                self.P, self.t = P - np.outer(gain, P[0]), t
                self._remember(F, P)
                return self.x.copy()
        # the first frame, or a jump no steady motion explains: start again from this measurement
        self.x, self.v, self.t = z.copy(), np.zeros_like(z), t
        self.P = np.diag([r2, (self.speed0 * scale) ** 2])
        self._remember()
        return z.copy()


FILTERS = {"kalman": KalmanFilter, "one_euro": OneEuroFilter}


def make_filter(spec):
    """A filter from {"filter": name, **its parameters}."""
    spec = dict(spec)
    return FILTERS[spec.pop("filter", "one_euro")](**spec)


class Track:
    """One face followed through frames: its id, box, points, scores and filters."""

    def __init__(self, track_id, box, det_score, smooth):
        self.id = track_id
        self.renew(box, det_score)
        self.points = None
        self.face_score = None
        self.frames = 0
        self.point_filter = make_filter(smooth["points"]) if smooth else None
        self.pose_filter = make_filter(smooth["pose"]) if smooth else None

    def renew(self, box, det_score):
        """A detection's box: the track's box from now on, and the anchor its points move it from."""
        self.box = self.anchor = np.asarray(box, np.float64).copy()
        self.anchor_points = None  # the points' tight box in the first frame after the detection
        self.det_score = float(det_score)

    def follow(self, points):
        """The box for the next frame: the anchor moved and scaled as the points' tight box has since the
        detection."""
        now = geometry.points_box(points)
        if self.anchor_points is None:
            self.anchor_points = now
            return self.box
        (w0, h0), (w1, h1) = geometry.box_size(self.anchor_points), geometry.box_size(now)
        scale = np.sqrt(max(w1 * h1, 1e-9) / max(w0 * h0, 1e-9))
        shift = 0.5 * (now[:2] + now[2:]) - 0.5 * (self.anchor_points[:2] + self.anchor_points[2:])
        centre = 0.5 * (self.anchor[:2] + self.anchor[2:]) + shift
        half = 0.5 * scale * np.array(geometry.box_size(self.anchor))
        return np.concatenate([centre - half, centre + half])

    def smooth(self, points, pose, t):
        """Filtered (points, pose) at time ``t``; unfiltered when smoothing is off."""
        if self.point_filter is None:
            return points, pose
        size = max(geometry.box_size(self.box)[0], 1.0)
        points = self.point_filter(points, t, scale=size)
        if pose is not None:
            pose = self.pose_filter(pose, t)
        return points, pose


class Tracker:
    """Tracks faces through frames.

    Parameters
    ----------
    detect : callable image -> ``deploy.detect.Detections`` (boxes in the annotators' convention).
    detect_every : run the detector at least every this many frames (1: every frame).
    face_threshold : a track whose face_score falls below this is lost (stage-3 models).
    refresh_score : a track whose face_score falls below this asks for a detection in the next frame.
    smooth : {"points": {...}, "pose": {...}} filter specs for ``make_filter``, or None for raw answers.
    detect_lag : a periodic detection (tracks are alive and none asks for one) runs on a thread while the
        tracks go on, and is merged this many frames later (0: at once, on the frame it looks at).  Its boxes
        are moved and scaled as each matched track's box has since then; it always lands on the same frame,
        however long it took, so the answers do not depend on the machine's speed.  A detection that is needed
        now (no tracks, or a track asked for one) runs at once, as ever.
    """

    def __init__(self, detect, detect_every=10, face_threshold=0.5, refresh_score=0.9, smooth=None, detect_lag=0):
        self.detect = detect
        self.detect_lag = max(0, min(int(detect_lag), detect_every - 1))
        self._pending = None  # (future, {track id: its box when the detection was asked}, frame asked)
        self._pool = None
        self.detect_every, self.face_threshold, self.smooth_params = detect_every, face_threshold, smooth
        self.refresh_score = refresh_score
        self.tracks = []
        self.next_id = 0
        self.frame = -1
        self.detections_run = 0
        self._redetect = True

    def boxes_for(self, image):
        """Start a frame: the tracks whose crops to run the landmark model on (detecting when due)."""
        self.frame += 1
        if self._pending is not None and (self.frame >= self._pending[2] + self.detect_lag or self._redetect or
                                          not self.tracks):
            self._merge_late()
        now = self._redetect or not self.tracks
        if now or self.frame % self.detect_every == 0:
            if now or not self.detect_lag:
                found = self.detect(image)
                self.detections_run += 1
                self._merge(found)
                self._redetect = False
            else:  # on a thread; merged detect_lag frames later
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor
                    self._pool = ThreadPoolExecutor(1, thread_name_prefix="detector")
                self._pending = (self._pool.submit(self.detect, image.copy()),
                                 {t.id: t.box.copy() for t in self.tracks}, self.frame)
                self.detections_run += 1
        return self.tracks

    def _merge_late(self):
        """Merge the detection asked ``detect_lag`` frames ago: a box matched to a track (by its box then) is
        moved and scaled as that track's box has moved since."""
        future, then, _ = self._pending
        self._pending = None
        found = future.result()
        now = {t.id: t.box for t in self.tracks}
        boxes = np.array(found.boxes, np.float64).reshape(-1, 4)
        ids = [i for i in then if i in now]
        if ids and len(boxes):
            before = np.array([then[i] for i in ids])
            for d, j, _ in geometry.match_boxes(boxes, before, TRACK_IOU):
                b, a = before[j], now[ids[j]]
                scale = (a[2:] - a[:2]) / np.maximum(b[2:] - b[:2], 1e-9)
                boxes[d] = np.concatenate([a[:2] + (boxes[d, :2] - b[:2]) * scale,
                                           a[:2] + (boxes[d, 2:] - b[:2]) * scale])
        found.boxes = boxes
        self._merge(found)

    def close(self):
        """Wait for a detection still running (its answer is no longer needed)."""
        if self._pending is not None:
            self._pending[0].result()
            self._pending = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _merge(self, found):
        boxes = [t.box for t in self.tracks]
        pairs = geometry.match_boxes(found.boxes, np.array(boxes).reshape(-1, 4), TRACK_IOU) if boxes else []
        matched_det = {i for i, _, _ in pairs}
        for i, j, _ in pairs:  # a detection renews its track's box; the id stays
            self.tracks[j].renew(found.boxes[i], found.scores[i])
        for i in range(len(found)):
            if i not in matched_det:
                self.tracks.append(Track(self.next_id, found.boxes[i], found.scores[i], self.smooth_params))
                self.next_id += 1

    def update(self, track, points, face_score, pose, t, frame_size):
        """The landmark model's answer for ``track`` in this frame: keeps it (returns the smoothed points and
        pose) or drops it (returns None) when the stage-3 score falls or its box leaves the frame.  The box
        of the next frame comes from these points."""
        track.face_score = None if face_score is None else float(face_score)
        if face_score is not None and face_score < self.face_threshold:
            self._drop(track)
            return None
        if face_score is not None and face_score < self.refresh_score:
            self._redetect = True  # still a face, but look again before it is lost
        raw = np.asarray(points, np.float64)
        points, pose = track.smooth(raw, pose, t)
        track.points, track.frames = points, track.frames + 1
        box = track.follow(raw if getattr(track.point_filter, "box_from_raw", False) else points)
        w, h = frame_size
        if geometry.box_iou(box, [0, 0, w, h])[0, 0] <= 0 or geometry.box_size(box)[0] < 4:
            self._drop(track)
            return None
        track.box = box
        return points, pose

    def _drop(self, track):
        if track in self.tracks:
            self.tracks.remove(track)
        self._redetect = True  # look again in the next frame
