"""What the benchmarks share: the faces they measure on."""
import os

SHARED_COURSE21 = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                               "course21", "I")


def course21_folder(work, faces, jobs):
    """The real course21 folder I when ../shared/data has it, else ``faces`` synthetic ones rendered in ``work``."""
    if os.path.isfile(os.path.join(SHARED_COURSE21, "label.txt")):
        return SHARED_COURSE21
    from tools.synth.formats import write_course21
    write_course21(work, faces, seed=0, jobs=jobs)
    return os.path.join(work, "I")
