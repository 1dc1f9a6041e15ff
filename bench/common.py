"""What the benchmarks share: the faces they measure on."""
import json
import os

import numpy as np

SHARED_COURSE21 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                               "course21", "I")


def course21_folder(work, faces, jobs):
    """The real course21 folder I when ../shared/data has it, else ``faces`` synthetic ones rendered in ``work``."""
    if os.path.isfile(os.path.join(SHARED_COURSE21, "label.txt")):
        return SHARED_COURSE21
    from tools.synth.formats import write_course21
    write_course21(work, faces, seed=0, jobs=jobs)
    return os.path.join(work, "I")


def recipe_photos(data):
    """({photo path: [FaceEntry]} of ``data/label.txt``, {photo path: 'train' | 'val' | 'test'}): the course21
    recipe's split of the photos (seed 0, test 0.2, val 0.1), the one the shipped models were made on."""
    from recordio import labelfiles
    from tools.packers.landmarks import course21_splits
    entries, _ = labelfiles.read_course21(os.path.join(data, "label.txt"))
    by_photo = {}
    for e in entries:
        by_photo.setdefault(os.path.join(data, e.image), []).append(e)
    return by_photo, course21_splits(by_photo, seed=0, test_ratio=0.2, val_ratio=0.1)


def in_split(by_photo, splits, split):
    """The photos of ``split`` ('all': every photo), sorted by path."""
    return {p: es for p, es in sorted(by_photo.items()) if split == "all" or splits[p] == split}


def video_truth(folder):
    """{(video file name, frame): [each face's truth]} from the ``video_XXX.jsonl`` files ``make_synthetic.py
    video`` writes beside its videos."""
    truth = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith("video_") and name.endswith(".jsonl"):
            with open(os.path.join(folder, name)) as f:
                for line in f:
                    t = json.loads(line)
                    truth.setdefault((name[:-len(".jsonl")] + ".mp4", t["frame"]), []).append(t)
    return truth


def nearest_face(points, faces, key):
    """(index, distance) of the face in ``faces`` whose ``key`` points' centre is nearest that of ``points``."""
    centre = np.mean(points, 0)
    dist = [np.linalg.norm(centre - np.mean(t[key], 0)) for t in faces]
    k = int(np.argmin(dist))
    return k, dist[k]
