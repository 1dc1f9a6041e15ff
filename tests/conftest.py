"""Shared fixtures: small synthetic datasets rendered once per session, and the real data in ../shared/data."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")


def shared_path(*parts):
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip("real data not present: %s" % path)
    return path


@pytest.fixture(scope="session")
def synth_wflw(tmp_path_factory):
    from tools.synth.formats import write_wflw
    out = str(tmp_path_factory.mktemp("synth_wflw"))
    truth = write_wflw(out, 120, seed=3, jobs=1, test_ratio=0.3)
    return out, truth


@pytest.fixture(scope="session")
def synth_course21(tmp_path_factory):
    from tools.synth.formats import write_course21
    out = str(tmp_path_factory.mktemp("synth_course21"))
    truth = write_course21(out, 60, seed=4, jobs=1)
    return out, truth


@pytest.fixture(scope="session")
def synth_mc4(tmp_path_factory):
    from tools.synth.formats import write_mc4
    out = str(tmp_path_factory.mktemp("synth_mc4"))
    truth = write_mc4(out, 40, seed=5, jobs=1, test_ratio=0.25)
    return out, truth


@pytest.fixture(scope="session")
def course21_archive(tmp_path_factory, synth_course21):
    """The synthetic course21 faces packed: (train prefix, test prefix)."""
    from tools import make_rec
    src, _ = synth_course21
    out = str(tmp_path_factory.mktemp("course21_rec"))
    make_rec.main(["course21", os.path.join(src, "I"), "--out", out, "-j", "1", "--test_ratio", "0.3"])
    return os.path.join(out, "train"), os.path.join(out, "test")


@pytest.fixture(scope="session")
def synth_mpii(tmp_path_factory):
    from tools.synth.formats import write_mpiifacegaze
    out = str(tmp_path_factory.mktemp("synth_mpii"))
    return out, write_mpiifacegaze(out, 6, seed=6, persons=2)


@pytest.fixture(scope="session")
def synth_gaze360(tmp_path_factory):
    from tools.synth.formats import write_gaze360
    out = str(tmp_path_factory.mktemp("synth_gaze360"))
    return out, write_gaze360(out, 5, seed=7, frames=9)
