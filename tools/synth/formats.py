"""Write rendered faces in the native layouts the packers read.

Each writer also writes ``ground_truth.jsonl``: one line per face with its
pose, eye angles, gaze (angles and vector), photo points, per-point
visibility and in-frame flags, and ``expect_reject`` when the packer's own
rules will reject that face (e.g. landmarks far outside the photo), so
"packing runs clean except for the faces the renderer said" is checkable.
"""
import json
import multiprocessing as mp
import os

import cv2
import numpy as np
from tqdm import tqdm

from recordio import gazeviews, geometry, labelfiles
from recordio.schema import COURSE21, GAZE360, GAZE_POINTS, MC4, MPIIFACEGAZE, WFLW98_TO_COURSE21, convert_points
from tools.packers.landmarks import OUTSIDE_TOLERANCE
from tools.synth.render import HEAD_HEIGHT_MM, SynthConfig, hidden_to_outline, render_photo

WFLW_GROUP = "0--Synthetic"
WFLW_SUBSETS = {"pose": "largepose", "expression": "expression", "illumination": "illumination",
                "makeup": "makeup", "occlusion": "occlusion", "blur": "blur"}
MC4_PHOTO = 480  # side of the photos MC4's views are cut from


def face_counts(num_faces, cfg, seed):
    """Faces per photo, summing exactly to ``num_faces`` (the last photo takes what is left)."""
    rng = np.random.default_rng([seed, 999331])
    counts = []
    while sum(counts) < num_faces:
        k = int(rng.integers(cfg.faces_per_photo[0], cfg.faces_per_photo[1] + 1))
        counts.append(min(k, num_faces - sum(counts)))
    return counts


def _render_one(job):
    index, seed, n, cfg, centred, size = job
    rng = np.random.default_rng([seed, index])
    img, faces, settings = render_photo(rng, cfg, size=size, faces=n, centred=centred)
    return index, img, faces, settings


def render_many(counts, seed, cfg, jobs=1, centred=False, size=None, desc="rendering"):
    """Yield (index, image, faces, settings) for each photo, in order, rendered on ``jobs`` processes."""
    work = [(i, seed, n, cfg, centred, size) for i, n in enumerate(counts)]
    if jobs > 1 and len(work) > 1:
        with mp.get_context("fork").Pool(jobs) as pool:
            yield from tqdm(pool.imap(_render_one, work, chunksize=4), total=len(work), desc=desc, unit="photo",
                            mininterval=0.5)
    else:
        yield from tqdm(map(_render_one, work), total=len(work), desc=desc, unit="photo", mininterval=0.5)


def _expect_reject(points, W, H):
    size = max(*geometry.box_size(geometry.points_box(points)))
    tol = OUTSIDE_TOLERANCE * size
    bad = (points[:, 0] < -tol) | (points[:, 0] > W + tol) | (points[:, 1] < -tol) | (points[:, 1] > H + tol)
    return "a landmark lies more than %.2f of the face size outside the photo" % OUTSIDE_TOLERANCE if bad.any() else None


def _split_of(index, seed, test_ratio):
    return "test" if np.random.default_rng([seed, index, 7]).uniform() < test_ratio else "train"


def _save(path, img, quality):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    buf.tofile(path)


TRUNCATE_KEEP = 0.6  # a photo written cut short keeps this share of its bytes
TRUNCATED = "written cut short on purpose (--truncate): make_rec rejects a partial photo"


def _truncate(root, rel_paths, count, seed):
    """Cut ``count`` of the written files under ``root`` short (chosen by ``seed``); returns the set cut."""
    rel_paths = sorted(set(rel_paths))
    if count <= 0 or not rel_paths:
        return set()
    rng = np.random.default_rng([seed, 404])
    cut = {rel_paths[k] for k in rng.choice(len(rel_paths), size=min(count, len(rel_paths)), replace=False)}
    for rel in cut:
        path = os.path.join(root, rel)
        with open(path, "r+b") as fh:
            fh.truncate(int(os.path.getsize(path) * TRUNCATE_KEEP))
    return cut


def _save_png(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    buf.tofile(path)


def _fmt(vals):
    return " ".join("%.3f" % v for v in np.asarray(vals).ravel())


def write_wflw(out, num, seed=0, jobs=1, test_ratio=0.2, cfg=None, truncate=0):
    """WFLW layout: WFLW_images/ and WFLW_annotations/ (train/test lists and the six test subsets).

    ``truncate`` photos are written cut short (their faces are flagged ``expect_reject``)."""
    cfg = cfg or SynthConfig()
    lines = {"train": [], "test": []}
    truth = []
    for index, img, faces, st in render_many(face_counts(num, cfg, seed), seed, cfg, jobs, desc="wflw"):
        rel = "%s/synth_%06d.jpg" % (WFLW_GROUP, index)
        _save(os.path.join(out, "WFLW_images", rel), img, st["jpeg_quality"])
        split = _split_of(index, seed, test_ratio)
        H, W = img.shape[:2]
        for k, f in enumerate(faces):
            box = geometry.expand_box(geometry.points_box(f.points), 0.05)
            line = "%s %s %s %s" % (_fmt(f.points), _fmt(box), " ".join(str(int(a)) for a in f.attributes), rel)
            lines[split].append((line, f.attributes))
            gt = f.ground_truth((W, H))
            gt.update(image=rel, face=k, split=split, line=len(lines[split]), expect_reject=_expect_reject(f.points, W, H))
            truth.append(gt)
    ann = os.path.join(out, "WFLW_annotations", "list_98pt_rect_attr_train_test")
    os.makedirs(ann, exist_ok=True)
    for split in ("train", "test"):
        with open(os.path.join(ann, "list_98pt_rect_attr_%s.txt" % split), "w") as fh:
            fh.write("".join(l + "\n" for l, _ in lines[split]))
    sub = os.path.join(out, "WFLW_annotations", "list_98pt_test")
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "list_98pt_test.txt"), "w") as fh:
        fh.write("".join(l + "\n" for l, _ in lines["test"]))
    for k, (attr, name) in enumerate(WFLW_SUBSETS.items()):
        with open(os.path.join(sub, "list_98pt_test_%s.txt" % name), "w") as fh:
            fh.write("".join(l + "\n" for l, a in lines["test"] if a[k]))
    _flag_cut(truth, _truncate(os.path.join(out, "WFLW_images"), [t["image"] for t in truth], truncate, seed))
    _write_truth(out, truth, "wflw", seed, cfg)
    return truth


def course21_points(face, K):
    """The 21 course points of a rendered face: its 3D points projected, those the head hides placed on its
    outline as the course's annotators do (on a profile all four eye corners sit on the visible side)."""
    pts21 = geometry.project(convert_points(face.points3d, "course21"), K)
    hidden = np.array([not face.self_visible[list(src)].any() for src in WFLW98_TO_COURSE21])
    facing_x = np.sign((face.R @ geometry.FORWARD)[0]) or 1.0
    return hidden_to_outline(pts21, hidden, face.outline, facing_x)


def write_course21(out, num, seed=0, jobs=1, cfg=None, folder="I", truncate=0):
    """Course layout: ``out/I/label.txt`` (name, box, 21 points) and the photos beside it; boxes follow the
    course's convention (``COURSE21.box_from_points`` around the 21 points).

    ``truncate`` photos are written cut short (their faces are flagged ``expect_reject``)."""
    cfg = cfg or SynthConfig()
    d = os.path.join(out, folder)
    os.makedirs(d, exist_ok=True)
    lines, truth = [], []
    for index, img, faces, st in render_many(face_counts(num, cfg, seed), seed, cfg, jobs, desc="course21"):
        name = "%06d.jpg" % index
        _save(os.path.join(d, name), img, st["jpeg_quality"])
        H, W = img.shape[:2]
        K = geometry.camera_matrix(W, H)
        for k, f in enumerate(faces):
            pts21 = course21_points(f, K)
            box = geometry.map_box(geometry.points_box(pts21), COURSE21.box_from_points)  # the course's boxes
            lines.append("%s %s %s" % (name, _fmt(box), _fmt(pts21)))
            gt = f.ground_truth((W, H))
            gt.update(image=name, face=k, line=len(lines), points21=np.round(pts21, 4).tolist(), expect_reject=None)
            truth.append(gt)
    with open(os.path.join(d, "label.txt"), "w") as fh:
        fh.write("".join(l + "\n" for l in lines))
    _flag_cut(truth, _truncate(d, [t["image"] for t in truth], truncate, seed))
    _write_truth(out, truth, "course21", seed, cfg)
    return truth


def write_mc4(out, num, seed=0, jobs=1, test_ratio=0.2, cfg=None, truncate=0):
    """MC4 layout per split, as the baseline reads it: head/, l_eye/ (image-left eye), r_eye/ holding
    ``<name>.png`` and the three label files naming each record by its bare name (0, 1, 2 ...).

    The views are cut by ``recordio.gazeviews.mc4_views``: head images carry background around the head
    (320 px, the head filling the central 224 px that the baseline crops), eye patches centred on the eye
    corners.  ``truncate`` head images are written cut short (their
    records are flagged ``expect_reject``).
    """
    cfg = cfg or SynthConfig(roll=15.0, head_frac=(0.55, 0.7), outside_prob=0.0, occluder_prob=0.05,
                             faces_per_photo=(1, 1))
    rows = {"train": {"head": [], "eye": [], "gaze": []}, "test": {"head": [], "eye": [], "gaze": []}}
    truth = []
    for index, img, faces, st in render_many([1] * num, seed, cfg, jobs, centred=True,
                                             size=(MC4_PHOTO, MC4_PHOTO), desc="mc4"):
        f = faces[0]
        split = _split_of(index, seed, test_ratio)
        name = str(len(rows[split]["head"]))  # bare record names, counted per split as in the release
        base = os.path.join(out, split)
        # the face is in the middle of the photo: the views need no turn, and the labels are camera-frame
        views, _ = gazeviews.mc4_views(img, f.appearance["K"], f.points, f.points[list(GAZE_POINTS[:4])], MC4.view,
                                       R_view=np.eye(3))
        for v in ("head", "l_eye", "r_eye"):
            _save_png(os.path.join(base, v, name + ".png"), views[v])
        rows[split]["head"].append((name, *f.head))
        rows[split]["eye"].append((name, *f.eye))
        rows[split]["gaze"].append((name, *f.gaze))
        gt = f.ground_truth(tuple(img.shape[1::-1]))
        gt.update(image=name, split=split, record=len(rows[split]["head"]), expect_reject=None)
        truth.append(gt)
    for split, r in rows.items():
        os.makedirs(os.path.join(out, split, "head"), exist_ok=True)
        for kind, fname in zip(("head", "eye", "gaze"), labelfiles.MC4_LABEL_FILES):
            with open(os.path.join(out, split, fname), "w") as fh:
                fh.write(labelfiles.format_mc4_labels(r[kind]))
    cut = _truncate(out, ["%s/head/%s.png" % (t["split"], t["image"]) for t in truth], truncate, seed)
    for t in truth:
        if "%s/head/%s.png" % (t["split"], t["image"]) in cut:
            t["expect_reject"] = TRUNCATED
    _write_truth(out, truth, "mc4", seed, cfg)
    return truth


def _flag_cut(truth, cut, key="image"):
    for t in truth:
        if t[key] in cut:
            t["expect_reject"] = TRUNCATED


def _write_truth(out, truth, fmt, seed, cfg):
    with open(os.path.join(out, "ground_truth.jsonl"), "w") as fh:
        for t in truth:
            fh.write(json.dumps(t) + "\n")
    with open(os.path.join(out, "synthetic.json"), "w") as fh:
        json.dump({"format": fmt, "seed": seed, "faces": len(truth), "config": vars(cfg),
                   "camera": "focal W px (the photo width), principal point at the photo centre (recordio.geometry)",
                   "expected_rejects": sum(1 for t in truth if t.get("expect_reject"))}, fh, indent=1, default=list)


WRITERS = {"wflw": write_wflw, "course21": write_course21, "mc4": write_mc4}


def contact_sheet(out_png, photos, cols=6, tile=160):
    """A PNG grid of face crops with their points drawn (green visible, red hidden)."""
    tiles = []
    for img, faces in photos:
        for f in faces:
            box = geometry.square_box(geometry.points_box(f.points), 1.5)
            A = geometry.box_to_crop_affine(box, tile, tile)
            crop = geometry.warp(img, A, tile, tile, border_value=(40, 40, 40))
            pts = geometry.apply_affine(A, f.points)
            geometry.draw_points(crop, pts[f.visible], (60, 220, 60), radius=1.0)
            geometry.draw_points(crop, pts[~f.visible], (40, 40, 230), radius=1.0)
            tiles.append(crop)
    if not tiles:
        raise ValueError("no faces to draw")
    rows = int(np.ceil(len(tiles) / cols))
    sheet = np.full((rows * tile, cols * tile, 3), 30, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = t
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    cv2.imwrite(out_png, sheet)
    return sheet


MPII_DISTANCE_SPREAD = 0.1  # people sit nearer or further: the face's size varies by this share around the normal


def write_mpiifacegaze(out, num, seed=0, jobs=1, persons=3, cfg=None):
    """Normalised MPIIFaceGaze layout: ``p00.mat`` .. as MATLAB 7.3 (HDF5) with Data/data and Data/label.

    ``num`` images per person.  Data/data is (N, 3, 448, 448) BGR (rows on axis 2, as h5py reads the
    release), Data/label (N, 16): gaze pitch, yaw, head pitch, yaw (radians), 6 points (eye and mouth
    corners, px).  Each face is rendered by the dataset's normalised camera (``MPIIFACEGAZE.view``), its head
    turned by pitch and yaw only (a normalised image has no head roll), so the camera-frame gaze and head
    direction are the labels.
    """
    import h5py
    from tools.synth.render import render_centred, sample_person
    cfg = cfg or SynthConfig(yaw=35.0, pitch=20.0, roll=0.0, eye_lo=20.0, eye_la=15.0, makeup_prob=0.1)
    view = MPIIFACEGAZE.view
    side = view["side"]
    os.makedirs(out, exist_ok=True)
    truth = []
    for p in tqdm(range(persons), desc="mpiifacegaze", unit="person"):
        rng = np.random.default_rng([seed, p, 31])
        person = sample_person(rng, cfg)
        data = np.zeros((num, 3, side, side), np.uint8)
        label = np.zeros((num, 16), np.float64)
        for i in range(num):
            euler = np.append(rng.uniform([-cfg.pitch, -cfg.yaw], [cfg.pitch, cfg.yaw]), 0.0)
            eye = rng.uniform([-cfg.eye_lo, -cfg.eye_la], [cfg.eye_lo, cfg.eye_la])
            scale = rng.uniform(1 - MPII_DISTANCE_SPREAD, 1 + MPII_DISTANCE_SPREAD)
            img, f = render_centred(rng, person, euler, eye, side, focal=view["focal"] * scale,
                                    distance=view["distance"], noise=rng.uniform(*cfg.noise_sigma))
            data[i] = img.transpose(2, 0, 1)
            gaze = geometry.vector_to_pitchyaw(f.gaze_vector)
            head = geometry.vector_to_pitchyaw(f.R @ geometry.FORWARD)
            label[i, :2], label[i, 2:4] = gaze, head
            label[i, 4:16] = f.points[[60, 64, 68, 72, 76, 82]].ravel()
            truth.append({"person": "p%02d" % p, "index": i + 1, "gaze_pitch_yaw": gaze.tolist(),
                          "gaze_vector": f.gaze_vector.tolist(), "head_pitch_yaw": head.tolist(),
                          "euler": f.euler.tolist(), "eye_lo_la": f.eye.tolist(), "expect_reject": None})
        with h5py.File(os.path.join(out, "p%02d.mat" % p), "w") as h:
            g = h.create_group("Data")
            g.create_dataset("data", data=data, compression="gzip", compression_opts=1)
            g.create_dataset("label", data=label)
    _write_truth(out, truth, "mpiifacegaze", seed, cfg)
    return truth


GAZE360_HEAD = 160  # side of the synthetic head crops, px
GAZE360_FRAMES_PER_RECORDING = 14


def _smooth_track(rng, n, lo, hi, knots=3):
    """A smooth random trajectory of ``n`` values in [lo, hi] (interpolated keyframes)."""
    keys = rng.uniform(lo, hi, (knots,) + np.shape(lo))
    x = np.linspace(0, knots - 1, n)
    i = np.minimum(np.floor(x).astype(int), knots - 2)
    w = (x - i)[:, None] if keys.ndim > 1 else x - i
    w = 0.5 - 0.5 * np.cos(np.pi * w)  # ease in and out
    return keys[i] * (1 - w) + keys[i + 1] * w


def write_gaze360(out, num, seed=0, jobs=1, test_ratio=0.2, cfg=None, frames=GAZE360_FRAMES_PER_RECORDING,
                  truncate=0):
    """Gaze360 layout: imgs/rec_XXX/head/<person:06d>/<frame:06d>.jpg and train/validation/test.txt.

    ``num`` recordings of one person each; head and eyes move smoothly.  Split lines list every frame
    that can be a centre (3 frames in from each end) with the gaze in Gaze360's eye frame.  ``truncate``
    frames are written cut short (every sequence that holds one is flagged ``expect_reject``).
    """
    from tools.synth.render import _background, render_centred, sample_person
    cfg = cfg or SynthConfig(yaw=70.0, pitch=25.0, roll=10.0, eye_lo=25.0, eye_la=15.0)
    lines = {"train": [], "validation": [], "test": []}
    truth = []
    for r in tqdm(range(num), desc="gaze360", unit="recording"):
        rng = np.random.default_rng([seed, r, 360])
        person = sample_person(rng, cfg)
        split = ("test" if r % 5 == 0 else "validation" if r % 5 == 1 else "train") if test_ratio > 0 else "train"
        euler = _smooth_track(rng, frames, np.array([-cfg.pitch, -cfg.yaw, -cfg.roll]),
                              np.array([cfg.pitch, cfg.yaw, cfg.roll]))
        eye = _smooth_track(rng, frames, np.array([-cfg.eye_lo, -cfg.eye_la]), np.array([cfg.eye_lo, cfg.eye_la]))
        rec, pid = "rec_%03d" % r, "%06d" % (r % 7)
        folder = os.path.join(out, "imgs", rec, "head", pid)
        os.makedirs(folder, exist_ok=True)
        face_px = GAZE360_HEAD * GAZE360.view["eye_mouth_share"] * rng.uniform(0.9, 1.1)
        scene = _background(rng, GAZE360_HEAD, GAZE360_HEAD)  # one scene per recording
        for k in range(frames):
            img, f = render_centred(rng, person, euler[k], eye[k], GAZE360_HEAD, face_px, background=scene,
                                    noise=rng.uniform(*cfg.noise_sigma))
            _save(os.path.join(folder, "%06d.jpg" % k), img, 90)
            v = geometry.vector_to_gaze360(f.gaze_vector)
            if 3 <= k < frames - 3:
                rel = "%s/head/%s/%06d.jpg" % (rec, pid, k)
                lines[split].append("%s %.6f %.6f %.6f" % (rel, *v))
                truth.append({"image": rel, "split": split, "line": len(lines[split]), "gaze_vector": f.gaze_vector.tolist(),
                              "gaze360_vector": v.tolist(), "euler": f.euler.tolist(), "eye_lo_la": f.eye.tolist(),
                              "expect_reject": None})
    for split, ls in lines.items():
        with open(os.path.join(out, split + ".txt"), "w") as fh:
            fh.write("".join(l + "\n" for l in ls))
    written = [os.path.relpath(os.path.join(dp, f), os.path.join(out, "imgs"))
               for dp, _, fs in os.walk(os.path.join(out, "imgs")) for f in fs]
    cut = _truncate(os.path.join(out, "imgs"), written, truncate, seed)
    for t in truth:
        folder, frame = os.path.split(t["image"])
        centre = int(os.path.splitext(frame)[0])
        if any("%s/%06d.jpg" % (folder, centre + k) in cut for k in range(-3, 4)):
            t["expect_reject"] = TRUNCATED
    _write_truth(out, truth, "gaze360", seed, cfg)
    return truth


WRITERS.update({"mpiifacegaze": write_mpiifacegaze, "gaze360": write_gaze360})


VIDEO_SIZE = (640, 480)
VIDEO_FPS = 25.0


def _motion(rng, frames, lo, hi, hold=0.4, segment=(20, 45)):
    """A slow random trajectory (frames, D) in [lo, hi]: eased moves between keyframes, and still stretches
    (a ``hold`` share of the segments keep their value)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    out, value, k = [], rng.uniform(lo, hi), 0
    while k < frames:
        n = int(rng.integers(*segment))
        target = value if rng.uniform() < hold else rng.uniform(lo, hi)
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(1, n + 1) / n))[:, None]  # ease in and out
        out.append(value + w * (target - value))
        value, k = target, k + n
    return np.concatenate(out)[:frames]


def write_video(out, num, seed=0, jobs=1, cfg=None, frames=100, faces=(1, 2), truncate=0):
    """Rendered videos with exact per-frame truth: ``video_XXX.mp4`` (640 x 480, 25 fps, mp4v) and
    ``video_XXX.jsonl``, one line per face per frame: frame, time, face (a stable index), pose, eye angles,
    gaze vector, the 98 points, the 21 course points (the course's convention for hidden points), per-point
    visibility and the face box.  Heads and eyes move slowly between still stretches; each video keeps its
    people, light and scene.  ``truncate`` videos are written cut short (their truth is kept whole)."""
    from tools.synth.render import _background, _light, draw_face, pose_face, sample_person
    cfg = cfg or SynthConfig(yaw=45.0, pitch=20.0, roll=20.0, eye_lo=20.0, eye_la=12.0)
    os.makedirs(out, exist_ok=True)
    W, H = VIDEO_SIZE
    K = geometry.camera_matrix(W, H)
    truth, names = [], []
    for v in tqdm(range(num), desc="video", unit="video"):
        rng = np.random.default_rng([seed, v, 77])
        n_faces = int(rng.integers(faces[0], faces[1] + 1))
        scene, light = _background(rng, W, H), _light(rng)
        people = [sample_person(rng, cfg) for _ in range(n_faces)]
        lanes = (np.arange(n_faces) + 0.5) / n_faces * W  # faces keep to their own part of the frame
        tracks = []
        for k in range(n_faces):
            pose = _motion(rng, frames, [-cfg.pitch, -cfg.yaw, -cfg.roll], [cfg.pitch, cfg.yaw, cfg.roll])
            eye = _motion(rng, frames, [-cfg.eye_lo, -cfg.eye_la], [cfg.eye_lo, cfg.eye_la])
            span = 0.25 * W / n_faces
            centre = _motion(rng, frames, [lanes[k] - span, 0.4 * H], [lanes[k] + span, 0.6 * H], hold=0.5)
            head_px = _motion(rng, frames, [0.35 * H / n_faces ** 0.5], [0.6 * H / n_faces ** 0.5], hold=0.6)[:, 0]
            tracks.append((pose, eye, centre, head_px))
        name = "video_%03d" % v
        names.append(name + ".mp4")
        writer = cv2.VideoWriter(os.path.join(out, name + ".mp4"), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (W, H))
        lines = []
        for f in range(frames):
            img = scene.copy()
            posed = []
            for k, (pose, eye, centre, head_px) in enumerate(tracks):
                tz = K[0, 0] * HEAD_HEIGHT_MM / head_px[f]
                t = tz * np.linalg.solve(K, [centre[f, 0], centre[f, 1], 1.0])
                face = pose_face(pose[f], t, eye[f], people[k]["identity"])
                face.appearance = dict(people[k]["appearance"], K=K)
                posed.append((k, face))
            for k, face in sorted(posed, key=lambda kf: -kf[1].t[2]):  # far faces first
                draw_face(img, face, K, light, rng, makeup=face.appearance["makeup"])
            writer.write(img)
            for k, face in posed:
                lines.append({"frame": f, "time": round(f / VIDEO_FPS, 4), "face": k, "pitch": float(face.euler[0]),
                              "yaw": float(face.euler[1]), "roll": float(face.euler[2]), "eye_lo_la": face.eye.tolist(),
                              "gaze_vector": face.gaze_vector.tolist(), "points": np.round(face.points, 3).tolist(),
                              "points21": np.round(course21_points(face, K), 3).tolist(),
                              "visible": face.visible.astype(int).tolist(),
                              "box": np.round(geometry.points_box(face.points), 3).tolist()})
        writer.release()
        with open(os.path.join(out, name + ".jsonl"), "w") as fh:
            fh.write("".join(json.dumps(line) + "\n" for line in lines))
        truth.append({"video": name + ".mp4", "frames": frames, "faces": n_faces, "fps": VIDEO_FPS,
                      "expect_reject": None})
    for t in truth:
        if t["video"] in _truncate(out, names, truncate, seed):
            t["expect_reject"] = TRUNCATED
    _write_truth(out, truth, "video", seed, cfg)
    return truth


WRITERS["video"] = write_video
