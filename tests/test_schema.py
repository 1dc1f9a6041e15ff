import numpy as np
import pytest

from recordio import schema as S


def test_flip_permutations_are_involutions():
    for sch in S.SCHEMAS.values():
        perm = np.asarray(sch.flip_perm)
        assert np.array_equal(perm[perm], np.arange(sch.num_points))


def test_wflw_flip_matches_pfld_mirror_file():
    perm = S.WFLW98.flip_perm
    assert perm[:33] == tuple(range(32, -1, -1))
    assert perm[33:42] == (46, 45, 44, 43, 42, 50, 49, 48, 47)
    assert perm[60:68] == (72, 71, 70, 69, 68, 75, 74, 73)
    assert perm[96:] == (97, 96)


def test_ibug68_flip_derived_from_wflw_is_the_standard_one():
    perm = S.IBUG68.flip_perm
    assert perm[:17] == tuple(range(16, -1, -1))
    assert perm[17:27] == (26, 25, 24, 23, 22, 21, 20, 19, 18, 17)
    assert perm[36:48] == (45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40)
    assert perm[48:60] == (54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55)


def test_convert_points_commutes_with_flip():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (98, 2))
    flipped = pts[list(S.WFLW98.flip_perm)] * [-1, 1]
    for target in ("course21", "ibug68"):
        sch = S.get_schema(target)
        a = S.convert_points(flipped, target)
        b = (S.convert_points(pts, target) * [-1, 1])[list(sch.flip_perm)]
        np.testing.assert_allclose(a, b)


def test_get_schema_error_lists_valid_names():
    with pytest.raises(ValueError, match="course21.*ibug68.*wflw98"):
        S.get_schema("nope")


def test_layout_pack_and_get_round_trip():
    L = S.landmark_layout(S.COURSE21)
    pts = np.arange(42).reshape(21, 2)
    vec = L.pack(face=1, points=pts, line=7)
    assert vec.dtype == np.float32 and vec.size == L.width == 63
    np.testing.assert_array_equal(L.get(vec, "points"), pts.ravel())
    assert L.get(vec, "line")[0] == 7
    assert S.LabelLayout.from_meta(L.to_meta()) == L


def test_layout_rejects_unknown_field():
    with pytest.raises(KeyError, match="no field 'nose'"):
        S.landmark_layout(S.WFLW98).pack(nose=1)


def test_read_meta_names_the_file(tmp_path):
    with pytest.raises(S.ArchiveError, match="x.meta.json"):
        S.read_meta(str(tmp_path / "x"))
    (tmp_path / "y.meta.json").write_text("{not json")
    with pytest.raises(S.ArchiveError, match="y.meta.json: not valid JSON"):
        S.read_meta(str(tmp_path / "y"))
    (tmp_path / "z.meta.json").write_text('{"format_version": 99, "task": "t", "label_layout": {}, "image": {}, '
                                          '"counts": {}}')
    with pytest.raises(S.ArchiveError, match="z.meta.json: format version 99"):
        S.read_meta(str(tmp_path / "z"))
