import json
import os
import shutil

import cv2
import mxnet as mx
import numpy as np
import pytest

from recordio import geometry, labelfiles
from recordio.dataset import ArchiveReader
from tests.conftest import shared_path
from tools import make_rec


def _mxnet_reads(prefix):
    """Every archive is read by mx.recordio.unpack_img and ImageRecordIter with the meta's label width."""
    r = ArchiveReader(prefix)
    rec = mx.recordio.MXIndexedRecordIO(prefix + ".idx", prefix + ".rec", "r")
    header, img = mx.recordio.unpack_img(rec.read_idx(len(r) - 1))
    assert header.flag == r.layout.width
    np.testing.assert_array_equal(header.label, r.read(len(r) - 1)[1])
    im = r.meta["image"]
    it = mx.io.ImageRecordIter(path_imgrec=prefix + ".rec", path_imgidx=prefix + ".idx",
                               data_shape=(3, im["height"], im["width"]), label_width=r.layout.width,
                               batch_size=min(4, len(r)), shuffle=False)
    batch = it.next()
    np.testing.assert_allclose(batch.label[0].asnumpy()[0], r.read(0)[1])
    return r


def _rejects(prefix):
    path = prefix + ".rejects.txt"
    return open(path).read().splitlines() if os.path.exists(path) else []


def test_course21_real_data_keeps_every_face_and_maps_back_within_half_a_pixel(tmp_path):
    src = shared_path("course21", "I")
    out = str(tmp_path / "c21")
    summary = make_rec.main(["course21", src, "--out", out, "-j", "2"])
    lines = [l for l in open(os.path.join(src, "label.txt")) if l.strip()]
    faces = sum(s["faces"] for s in summary.values())
    rejected = sum(s["rejected"] for s in summary.values())
    assert faces + rejected == len(lines) == 1593
    for split in ("train", "test"):
        assert len(_rejects(os.path.join(out, split))) == summary[split]["rejected"]
    entries, _ = labelfiles.read_course21(os.path.join(src, "label.txt"))
    by_line = {e.line: e for e in entries}
    photos = {}
    for split in ("train", "test"):
        r = _mxnet_reads(os.path.join(out, split))
        L = r.layout
        assert r.meta["counts"]["written"] == len(r)
        photos[split] = set()
        for i in range(len(r)):
            _, lab = r.read(i, decode=False)
            if L.get(lab, "face")[0] < 0.5:
                continue
            e = by_line[int(L.get(lab, "line")[0])]
            back = geometry.apply_affine(L.get(lab, "affine").reshape(2, 3), L.get(lab, "points").reshape(-1, 2))
            assert np.abs(back - e.points).max() < 0.5
            photos[split].add(e.image)
    assert not photos["train"] & photos["test"]  # split by photo, never by face


def test_course21_val_split_comes_from_training_photos_and_leaves_test_alone(tmp_path, synth_course21):
    src, _ = synth_course21
    d = os.path.join(src, "I")

    def photos(out, split):
        r = ArchiveReader(os.path.join(out, split))
        return {s["image"] for s in r.meta["sources"]}

    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    make_rec.main(["course21", d, "--out", a, "-j", "1", "--test_ratio", "0.25", "--neg_ratio", "0"])
    summary = make_rec.main(["course21", d, "--out", b, "-j", "1", "--test_ratio", "0.25", "--val_ratio", "0.25",
                             "--neg_ratio", "0"])
    assert sorted(summary) == ["test", "train", "val"] and summary["val"]["written"] > 0
    assert photos(a, "test") == photos(b, "test")  # adding a validation split does not move test photos
    assert photos(b, "val") | photos(b, "train") == photos(a, "train")
    assert not photos(b, "val") & photos(b, "train")
    with pytest.raises(SystemExit, match="no training photo"):
        make_rec.main(["course21", d, "--out", str(tmp_path / "c"), "--test_ratio", "0.5", "--val_ratio", "0.5"])


def test_course21_negatives_overlap_no_face(tmp_path, synth_course21):
    src, _ = synth_course21
    out = str(tmp_path / "o")
    make_rec.main(["course21", os.path.join(src, "I"), "--out", out, "-j", "1", "--neg_ratio", "2"])
    entries, _ = labelfiles.read_course21(os.path.join(src, "I", "label.txt"))
    boxes = {}
    for e in entries:
        boxes.setdefault(e.image, []).append(geometry.expand_box(e.box, 0.25))
    r = ArchiveReader(os.path.join(out, "train"))
    L = r.layout
    negatives = 0
    for i in range(len(r)):
        _, lab = r.read(i, decode=False)
        if L.get(lab, "face")[0] < 0.5:
            negatives += 1
            src_img = r.meta["sources"][i]["image"]
            assert geometry.box_iou(L.get(lab, "box"), boxes[src_img]).max() < 0.3
    assert negatives > 0


def test_wflw_synthetic_packs_clean_except_the_flagged_faces(tmp_path, synth_wflw):
    src, truth = synth_wflw
    ann = os.path.join(src, "WFLW_annotations", "list_98pt_rect_attr_train_test")
    out = str(tmp_path / "w")
    for split in ("train", "test"):
        make_rec.main(["wflw", os.path.join(ann, "list_98pt_rect_attr_%s.txt" % split),
                       "--images", os.path.join(src, "WFLW_images"), "--out", out, "-j", "2"])
        expected = {t["line"] for t in truth if t["split"] == split and t["expect_reject"]}
        got = {int(l.split(":")[1]) for l in _rejects(os.path.join(out, split))}
        assert got == expected
        r = _mxnet_reads(os.path.join(out, split))
        assert len(r) == sum(1 for t in truth if t["split"] == split and not t["expect_reject"])


def test_wflw_subset_selects_faces_with_the_attribute(tmp_path, synth_wflw):
    src, truth = synth_wflw
    ann = os.path.join(src, "WFLW_annotations", "list_98pt_rect_attr_train_test", "list_98pt_rect_attr_test.txt")
    out = str(tmp_path / "s")
    make_rec.main(["wflw", ann, "--images", os.path.join(src, "WFLW_images"), "--out", out,
                   "--subset", "pose", "-j", "1"])
    r = ArchiveReader(os.path.join(out, "test_pose"))
    attrs = np.stack([r.read(i, decode=False)[1][r.layout.slice("attributes")] for i in range(len(r))])
    assert len(r) > 0 and (attrs[:, 0] == 1).all()
    expected = sum(1 for t in truth if t["split"] == "test" and t["attributes"][0] and not t["expect_reject"])
    assert len(r) == expected


def test_wflw_augmented_repeats_keep_points_mapping_to_the_photo(tmp_path, synth_wflw):
    src, truth = synth_wflw
    ann = os.path.join(src, "WFLW_annotations", "list_98pt_rect_attr_train_test", "list_98pt_rect_attr_train.txt")
    out = str(tmp_path / "r")
    summary = make_rec.main(["wflw", ann, "--images", os.path.join(src, "WFLW_images"),
                             "--out", out, "--repeats", "2", "-j", "1"])
    assert summary["train"]["written"] == 3 * summary["train"]["faces"]
    r = ArchiveReader(os.path.join(out, "train"))
    L = r.layout
    by_line = {t["line"]: t for t in truth if t["split"] == "train"}
    for i in range(len(r)):
        _, lab = r.read(i, decode=False)
        back = geometry.apply_affine(L.get(lab, "affine").reshape(2, 3), L.get(lab, "points").reshape(-1, 2))
        np.testing.assert_allclose(back, by_line[int(L.get(lab, "line")[0])]["points"], atol=0.05)


def test_pfld_list_is_packed_with_euler_angles_recomputed(tmp_path, synth_wflw):
    src, truth = synth_wflw
    # build a PFLD-style list from the first few synthetic faces: 112x112 crops and normalised points
    d = tmp_path / "pfld"
    (d / "imgs").mkdir(parents=True)
    lines = []
    good = [t for t in truth if not t["expect_reject"]][:6]
    for k, t in enumerate(good):
        img = cv2.imread(os.path.join(src, "WFLW_images", t["image"]))
        pts = np.array(t["points"])
        box = geometry.square_box(geometry.points_box(pts), 1.2)
        A = geometry.box_to_crop_affine(box, 112, 112)
        cv2.imwrite(str(d / "imgs" / ("%d.png" % k)), geometry.warp(img, A, 112, 112))
        norm = geometry.apply_affine(A, pts) / 112
        lines.append("imgs/%d.png %s %s 109.0 -33.0 -48.0" % (k, " ".join("%.6f" % v for v in norm.ravel()),
                                                               " ".join(str(a) for a in t["attributes"])))
    lines.append("imgs/0.png 0.5 0.5")  # malformed
    (d / "list.txt").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "o")
    summary = make_rec.main(["pfld", str(d / "list.txt"), "--out", out, "--split", "train", "-j", "1"])
    assert summary["train"]["written"] == 6 and summary["train"]["rejected"] == 1
    r = _mxnet_reads(os.path.join(out, "train"))
    for i, t in enumerate(good):
        euler = r.layout.get(r.read(i, decode=False)[1], "euler")
        # a crop shows the head relative to the ray it was seen along (never PFLD's (109, -33, -48))
        R = geometry.euler_to_matrix(t["pitch"], t["yaw"], t["roll"])
        apparent = geometry.matrix_to_euler(geometry.apparent_rotation(R, t["translation_mm"]))
        assert np.abs(euler - apparent).max() < 4


def test_coco_real_wflw_faces(tmp_path):
    src = shared_path("faces-98pt", "test_wflw.json")
    out = str(tmp_path / "coco")
    summary = make_rec.main(["coco", src, "--out", out, "-j", "1"])
    assert summary["test"]["written"] == 4 and summary["test"]["rejected"] == 0
    r = _mxnet_reads(os.path.join(out, "test"))
    assert r.meta["schema"] == "wflw98"
    data = json.load(open(src))
    for i in range(4):
        lab = r.read(i, decode=False)[1]
        ann = data["annotations"][int(r.layout.get(lab, "line")[0]) - 1]
        back = geometry.apply_affine(r.layout.get(lab, "affine").reshape(2, 3),
                                     r.layout.get(lab, "points").reshape(-1, 2))
        np.testing.assert_allclose(back, np.array(ann["keypoints"]).reshape(-1, 3)[:, :2], atol=0.01)


def test_mc4_bare_names_find_their_png_images_in_train_and_test_modes(tmp_path, synth_mc4):
    src, truth = synth_mc4
    assert open(os.path.join(src, "train", "head_label.txt")).readline().strip() == "0"  # the release's bare names
    out = str(tmp_path / "m")
    s = make_rec.main(["mc4", os.path.join(src, "train"), "--out", out, "-j", "2"])
    assert s["train"]["rejected"] == 0 and s["train"].get("gaze_differs_from_composition", 0) == 0
    r = _mxnet_reads(os.path.join(out, "train"))
    L = r.layout
    by_name = {t["image"]: t for t in truth if t["split"] == "train"}
    assert len(r) == len(by_name)
    for i in range(len(r)):
        lab = r.read(i, decode=False)[1]
        t = by_name[r.meta["sources"][i]["image"]]
        np.testing.assert_allclose(L.get(lab, "gaze"), t["gaze_lo_la"], atol=1e-3)
        np.testing.assert_allclose(L.get(lab, "gaze_vector"), t["gaze_vector"], atol=1e-4)
    names = [t["image"] for t in truth if t["split"] == "test"]
    make_rec.main(["mc4", os.path.join(src, "test"), "--test", "--out", out, "-j", "1"])
    r = _mxnet_reads(os.path.join(out, "test"))
    assert len(r) == len(names) and not r.meta["labelled"]
    assert [x["image"] for x in r.meta["sources"]] == sorted(names, key=int)  # bare names, in number order


def test_mc4_names_given_with_an_extension_and_other_image_types_are_found(tmp_path, synth_mc4):
    src, _ = synth_mc4
    d = tmp_path / "mc4"
    shutil.copytree(os.path.join(src, "train"), d)
    for view in ("head", "l_eye", "r_eye"):  # record 1 stored as JPEG
        img = cv2.imread(str(d / view / "1.png"))
        os.remove(d / view / "1.png")
        cv2.imwrite(str(d / view / "1.jpg"), img)
    for fname in labelfiles.MC4_LABEL_FILES:  # record 0 named with its extension
        lines = (d / fname).read_text().splitlines()
        lines[0] = "0.png"
        (d / fname).write_text("\n".join(lines) + "\n")
    s = make_rec.main(["mc4", str(d), "--out", str(tmp_path / "o"), "-j", "1"])
    r = ArchiveReader(str(tmp_path / "o" / "train"))
    names = [x["image"] for x in r.meta["sources"]]
    assert s["train"]["rejected"] == 0 and names[:2] == ["0.png", "1"]


def test_mc4_head_tile_is_the_baselines_centre_crop_and_the_meta_says_so(tmp_path, synth_mc4):
    from recordio.gazeviews import centre_crop
    src, _ = synth_mc4
    out = str(tmp_path / "m")
    make_rec.main(["mc4", os.path.join(src, "train"), "--out", out, "-j", "1", "--encoding", "png"])
    r = ArchiveReader(os.path.join(out, "train"))
    assert r.meta["head_crop"] == 224
    img, _ = r.read(0)
    head = cv2.imread(os.path.join(src, "train", "head", r.meta["sources"][0]["image"] + ".png"))
    assert head.shape[0] > 224  # the photo carries background around the head
    mid_r, mid_c = head.shape[0] // 2, head.shape[1] // 2  # the baseline's crop, written out by hand
    np.testing.assert_array_equal(img[:224, :224], head[mid_r - 112:mid_r + 112, mid_c - 112:mid_c + 112])
    np.testing.assert_array_equal(centre_crop(head, 224), head[mid_r - 112:mid_r + 112, mid_c - 112:mid_c + 112])
    make_rec.main(["mc4", os.path.join(src, "train"), "--out", out, "-j", "1", "--head_crop", "0", "--split", "whole"])
    assert ArchiveReader(os.path.join(out, "whole")).meta["head_crop"] == 0


def test_mc4_val_ratio_takes_the_baselines_ten_percent(tmp_path, synth_mc4):
    src, truth = synth_mc4
    out = str(tmp_path / "m")
    s = make_rec.main(["mc4", os.path.join(src, "train"), "--out", out, "-j", "1", "--val_ratio", "0.1", "--seed", "0"])
    names = [t["image"] for t in sorted((t for t in truth if t["split"] == "train"), key=lambda t: t["record"])]
    order = np.arange(len(names))
    np.random.seed(0)
    np.random.shuffle(order)  # the baseline's split, written out
    n_val = int(np.floor(0.1 * len(names)))
    val = [x["image"] for x in ArchiveReader(os.path.join(out, "val")).meta["sources"]]
    train = [x["image"] for x in ArchiveReader(os.path.join(out, "train")).meta["sources"]]
    assert sorted(val) == sorted(names[k] for k in order[:n_val]) and len(val) == n_val > 0
    assert sorted(train + val) == sorted(names) and s["val"]["written"] == n_val


def test_mc4_record_missing_from_one_label_file_is_rejected(tmp_path, synth_mc4):
    src, _ = synth_mc4
    d = tmp_path / "mc4"
    shutil.copytree(os.path.join(src, "train"), d)
    eye = (d / "eye_label.txt").read_text().splitlines()
    (d / "eye_label.txt").write_text("\n".join(eye[3:]) + "\n")  # drop the first record
    os.remove(d / "head" / sorted(os.listdir(d / "head"))[-1])  # and one head image
    out = str(tmp_path / "o")
    s = make_rec.main(["mc4", str(d), "--out", out, "-j", "1"])
    rej = "\n".join(_rejects(os.path.join(out, "train")))
    assert s["train"]["rejected"] == 2
    assert "head_label.txt:1: record '0'" in rej and "no entry in eye_label.txt" in rej
    assert "image not found" in rej


@pytest.mark.parametrize("fmt", ["course21", "wflw"])
def test_the_same_archive_comes_out_for_any_number_of_packing_workers(tmp_path, synth_course21, synth_wflw, fmt):
    """Byte for byte: records, index, rejects and counts, whatever ``-j`` is (workers finish out of order)."""
    outs = {}
    for jobs in ("1", "2"):
        out = str(tmp_path / ("j" + jobs))
        if fmt == "course21":
            make_rec.main(["course21", os.path.join(synth_course21[0], "I"), "--out", out, "-j", jobs,
                           "--test_ratio", "0.3"])
        else:
            ann = os.path.join(synth_wflw[0], "WFLW_annotations", "list_98pt_rect_attr_train_test",
                               "list_98pt_rect_attr_train.txt")
            make_rec.main(["wflw", ann, "--images", os.path.join(synth_wflw[0], "WFLW_images"), "--out", out,
                           "-j", jobs, "--repeats", "2"])
        outs[jobs] = out
    names = sorted(os.listdir(outs["1"]))
    assert names == sorted(os.listdir(outs["2"])) and any(n.endswith(".rec") for n in names)
    for name in names:
        a, b = (open(os.path.join(outs[j], name), "rb").read() for j in ("1", "2"))
        if name.endswith(".meta.json"):
            a, b = (json.loads(x) for x in (a, b))
            for m in (a, b):  # the arguments differ in -j, and out (and the rejects file's name) in the folder
                m.pop("created")
                args = m.pop("packer_args")
                assert {k: v for k, v in args.items() if k not in ("jobs", "out")} == {
                    k: v for k, v in json.loads(open(os.path.join(outs["1"], name)).read())["packer_args"].items()
                    if k not in ("jobs", "out")}
            a, b = (json.dumps(m, sort_keys=True).replace(outs[j], "OUT") for m, j in ((a, "1"), (b, "2")))
        assert a == b, name
