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
