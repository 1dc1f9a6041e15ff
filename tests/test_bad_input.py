"""A bad-input corpus per packer format: every bad line is named with its file, line and reason, and every
good face is still packed.  Photos cut short (a truncated JPEG still decodes) are caught too."""
import json
import os
import shutil

import cv2
import numpy as np

from recordio import imagefile
from recordio.dataset import ArchiveReader
from tools import make_rec


def _cut(src, dst, keep=0.6):
    """Copy ``src`` to ``dst`` cut short, as a download that stopped early leaves it."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[:int(len(data) * keep)])
    return str(dst)


def _rejects(out):
    """{(file, line): reason} from every rejects file under ``out``."""
    found = {}
    for name in os.listdir(out):
        if name.endswith(".rejects.txt"):
            for row in open(os.path.join(out, name)).read().splitlines():
                path, line, reason = row.split(":", 2)
                found[(path, int(line))] = reason
    return found


def _assert_named(rejects, path, expected):
    """Each (line, words) of ``expected`` is rejected for ``path`` with a reason holding the words; nothing else."""
    got = {line: reason for (p, line), reason in rejects.items() if p == str(path)}
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    for line, words in expected.items():
        assert words in got[line], (line, words, got[line])


def test_a_truncated_jpeg_decodes_but_is_caught():
    img = np.random.default_rng(0).uniform(0, 255, (120, 160, 3)).astype(np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    short = data[: len(data) // 2]
    assert cv2.imdecode(np.frombuffer(short, np.uint8), cv2.IMREAD_COLOR) is not None  # grey-filled, no error
    assert imagefile.decode(data)[1] is None
    assert "cut short" in imagefile.decode(short)[1]
    png = cv2.imencode(".png", img)[1].tobytes()
    assert imagefile.decode(png)[1] is None and "cut short" in imagefile.decode(png[:-20])[1]
    damaged = bytearray(png)
    damaged[100] ^= 0xFF
    assert "CRC" in imagefile.decode(bytes(damaged))[1]


def test_course21_bad_lines(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    img = np.random.default_rng(1).uniform(0, 255, (120, 160, 3)).astype(np.uint8)
    cv2.imwrite(str(d / "a.jpg"), img)
    (d / "broken.jpg").write_bytes(b"not a jpeg")
    _cut(d / "a.jpg", d / "cut.jpg")
    pts = " ".join("%d %d" % (50 + i, 50 + i % 5) for i in range(21))
    lines = [
        "a.jpg 40 40 100 100 " + pts,  # good
        "a.jpg 40 40 100 " + pts,  # too few tokens
        "a.jpg 40 40 abc 100 " + pts,  # not a number
        "a.jpg 100 40 40 100 " + pts,  # degenerate box
        "missing.jpg 40 40 100 100 " + pts,  # no such image
        "broken.jpg 40 40 100 100 " + pts,  # not an image
        "cut.jpg 40 40 100 100 " + pts,  # cut short
        "a.jpg 40 40 100 100 " + pts.replace("50 50", "500 50", 1),  # a point far outside the face box
        "a.jpg 300 300 400 400 " + pts,  # box outside the photo
        "a.jpg 45 45 95 95 " + pts,  # good
    ]
    (d / "label.txt").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "o")
    summary = make_rec.main(["course21", str(d), "--out", out, "--test_ratio", "0", "-j", "1", "--neg_ratio", "0"])
    assert summary["train"]["written"] == 2 and summary["train"]["rejected"] == 8
    _assert_named(_rejects(out), d / "label.txt", {
        2: "expected 47 tokens", 3: "not a number", 4: "degenerate face box", 5: "image not found",
        6: "cannot be decoded", 7: "JPEG cut short", 8: "point 0 at (500.0, 50.0)", 9: "outside the 160x120 photo"})
    meta = json.load(open(os.path.join(out, "train.meta.json")))
    assert meta["counts"]["rejected"] == 8 and meta["counts"]["written"] == 2


def _wflw_line(points, box, attrs, image):
    return " ".join(["%.3f" % v for v in np.ravel(points)] + ["%d" % v for v in box] + ["%d" % a for a in attrs]
                    + [image])


def test_wflw_bad_lines(tmp_path, synth_wflw):
    src, truth = synth_wflw
    good = [t for t in truth if not t["expect_reject"] and min(np.min(t["points"], 0)) > 0][:2]
    d = tmp_path / "wflw"
    (d / "imgs").mkdir(parents=True)
    for k, t in enumerate(good):
        shutil.copy(os.path.join(src, "WFLW_images", t["image"]), d / "imgs" / ("%d.jpg" % k))
    _cut(d / "imgs" / "0.jpg", d / "imgs" / "cut.jpg")
    p0, b0 = np.array(good[0]["points"]), np.round([*np.min(good[0]["points"], 0), *np.max(good[0]["points"], 0)])
    line = _wflw_line(p0, b0, [0] * 6, "0.jpg")
    tok = line.split()
    lines = [
        line,  # good
        " ".join(tok[:10] + tok[11:]),  # one coordinate short
        " ".join(tok[:5] + ["x"] + tok[6:]),  # not a number
        _wflw_line(p0, [b0[2], b0[1], b0[0], b0[3]], [0] * 6, "0.jpg"),  # degenerate box
        _wflw_line(p0, b0, [0] * 6, "missing.jpg"),  # no such image
        _wflw_line(p0, b0, [0] * 6, "cut.jpg"),  # cut short
        _wflw_line(p0, b0 + 5000, [0] * 6, "0.jpg"),  # box outside the photo
        _wflw_line(p0, b0, [0, 2, 0, 0, 0, 0], "0.jpg"),  # attribute not a flag
        _wflw_line(p0 + 9000, b0, [0] * 6, "0.jpg"),  # landmarks far outside the photo
        _wflw_line(good[1]["points"], np.round([*np.min(good[1]["points"], 0), *np.max(good[1]["points"], 0)]),
                   [1, 0, 0, 0, 0, 0], "1.jpg"),  # good
    ]
    ann = d / "list_98pt_rect_attr_train.txt"
    ann.write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "o")
    s = make_rec.main(["wflw", str(ann), "--images", str(d / "imgs"), "--out", out, "-j", "1"])
    assert s["train"]["written"] == 2 and s["train"]["rejected"] == 8
    _assert_named(_rejects(out), ann, {
        2: "expected 207 tokens", 3: "not a number", 4: "degenerate face box", 5: "image not found",
        6: "JPEG cut short", 7: "lies outside the", 8: "attributes must be 0 or 1", 9: "lies outside the"})


def test_pfld_list_bad_lines(tmp_path, synth_wflw):
    src, truth = synth_wflw
    d = tmp_path / "pfld"
    (d / "imgs").mkdir(parents=True)
    t = [t for t in truth if not t["expect_reject"]][0]
    img = cv2.imread(os.path.join(src, "WFLW_images", t["image"]))
    cv2.imwrite(str(d / "imgs" / "a.jpg"), cv2.resize(img, (112, 112)))
    _cut(d / "imgs" / "a.jpg", d / "imgs" / "cut.jpg")
    pts = ["%.4f" % v for v in np.random.default_rng(2).uniform(0.2, 0.8, 196)]
    tail = "0 0 0 0 0 0 1.0 2.0 3.0"

    def line(image, points=pts, end=tail):
        return " ".join([image] + points + [end])

    lines = [line("imgs/a.jpg"),  # good
             line("imgs/a.jpg", end=tail[:-4]),  # an angle short
             line("imgs/a.jpg", pts[:3] + ["nan?"] + pts[4:]),  # not a number
             line("imgs/missing.jpg"),  # no such image
             line("imgs/cut.jpg"),  # cut short
             line("imgs/a.jpg", ["3.5"] + pts[1:]),  # a point far outside the crop
             line("imgs/a.jpg")]  # good
    (d / "list.txt").write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "o")
    s = make_rec.main(["pfld", str(d / "list.txt"), "--out", out, "--split", "train", "-j", "1"])
    assert s["train"]["written"] == 2 and s["train"]["rejected"] == 5
    _assert_named(_rejects(out), d / "list.txt", {2: "expected 206 tokens", 3: "not a number", 4: "image not found",
                                                  5: "JPEG cut short", 6: "lies outside the normalised crop"})


def test_coco_bad_annotations(tmp_path, synth_wflw):
    src, truth = synth_wflw
    t = [t for t in truth if not t["expect_reject"] and min(np.min(t["points"], 0)) > 0][0]
    d = tmp_path / "coco"
    d.mkdir()
    shutil.copy(os.path.join(src, "WFLW_images", t["image"]), d / "a.jpg")
    _cut(d / "a.jpg", d / "cut.jpg")
    kp = np.concatenate([np.array(t["points"]), np.full((98, 1), 2.0)], 1).ravel().tolist()
    x1, y1 = np.min(t["points"], 0)
    x2, y2 = np.max(t["points"], 0)
    box = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "cut.jpg"}, {"id": 3, "file_name": "gone.jpg"}]
    anns = [{"id": 1, "image_id": 1, "keypoints": kp, "bbox": box},  # good
            {"id": 2, "image_id": 1, "keypoints": kp, "bbox": [box[0], box[1], 0, box[3]]},  # degenerate box
            {"id": 3, "image_id": 1, "keypoints": kp[:5] + ["x"] + kp[6:], "bbox": box},  # not a number
            {"id": 4, "image_id": 1, "keypoints": kp[:-3], "bbox": box},  # 97 points
            {"id": 5, "image_id": 9, "keypoints": kp, "bbox": box},  # no such image id
            {"id": 6, "image_id": 3, "keypoints": kp, "bbox": box},  # image file missing
            {"id": 7, "image_id": 2, "keypoints": kp, "bbox": box},  # cut short
            {"id": 8, "image_id": 1, "keypoints": kp, "bbox": box}]  # good
    path = d / "train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    out = str(tmp_path / "o")
    s = make_rec.main(["coco", str(path), "--out", out, "--schema", "wflw98", "-j", "1"])
    assert s["train"]["written"] == 2 and s["train"]["rejected"] == 6
    _assert_named(_rejects(out), path, {2: "degenerate face box", 3: "not a number", 4: "97 points",
                                        5: "not in images[]", 6: "image not found", 7: "JPEG cut short"})


def test_mc4_bad_records(tmp_path, synth_mc4):
    src, _ = synth_mc4
    d = tmp_path / "mc4"
    for view in ("head", "l_eye", "r_eye"):
        (d / view).mkdir(parents=True)
        for k in range(3):
            shutil.copy(os.path.join(src, "train", view, "%d.png" % k), d / view / ("%d.png" % k))
        shutil.copy(os.path.join(src, "train", view, "0.png"), d / view / "5.png")
    _cut(d / "head" / "0.png", d / "head" / "5.png")  # record 5's head image cut short
    rows = {"head": [], "eye": [], "gaze": []}
    for name in ("0", "1", "2", "4", "5", "6", "7"):  # 4 has no images
        for kind in rows:
            rows[kind].append([name, "10.000", "-5.000"])
    rows["head"][5][1] = "abc"  # record 6: not a number
    rows["eye"][6][2] = "95.000"  # record 7: la out of range
    text = {k: "".join("\n".join(r) + "\n" for r in v) for k, v in rows.items()}
    text["gaze"] += "8\n1.000\n"  # an incomplete record: 2 of 3 lines
    for kind, fname in zip(("head", "eye", "gaze"), ("head_label.txt", "eye_label.txt", "gaze_label.txt")):
        (d / fname).write_text(text[kind])
    out = str(tmp_path / "o")
    s = make_rec.main(["mc4", str(d), "--out", out, "-j", "1"])
    assert s["train"]["written"] == 3
    rej = _rejects(out)
    # each bad record is named once, where it is bad
    _assert_named(rej, d / "head_label.txt", {10: "image not found", 13: "PNG cut short", 16: "not a number"})
    _assert_named(rej, d / "eye_label.txt", {19: "out of range"})
    _assert_named(rej, d / "gaze_label.txt", {22: "incomplete record"})
    assert "record '4'" in rej[(str(d / "head_label.txt"), 10)] and "4.png" in rej[(str(d / "head_label.txt"), 10)]


def test_mpiifacegaze_bad_labels(tmp_path):
    import h5py
    d = tmp_path / "mpii"
    d.mkdir()
    data = np.random.default_rng(3).integers(0, 255, (4, 3, 64, 64), dtype=np.uint8)
    label = np.zeros((4, 16))
    label[:, 4:16] = 32.0
    label[1, 0] = np.nan  # not a number
    label[2, 0] = 5.0  # pitch beyond pi/2: not radians
    with h5py.File(d / "p00.mat", "w") as h:
        h.create_group("Data").create_dataset("data", data=data)
        h["Data"].create_dataset("label", data=label)
    out = str(tmp_path / "o")
    s = make_rec.main(["mpiifacegaze", str(d), "--out", out, "-j", "1", "--size", "32"])
    assert s["p00"]["written"] == 2 and s["p00"]["rejected"] == 2
    _assert_named(_rejects(out), d / "p00.mat", {2: "nan or inf", 3: "is not radians"})


def test_gaze360_bad_lines(tmp_path, synth_gaze360):
    src, truth = synth_gaze360
    d = tmp_path / "g"
    shutil.copytree(src, d)
    train = [t for t in truth if t["split"] == "train"]
    rec = os.path.dirname(train[0]["image"])
    frames = d / "imgs" / rec
    lines = (d / "train.txt").read_text().splitlines()
    first = lines[0].split()
    extra = [" ".join(first[:3]),  # a token short
             " ".join(first[:2] + ["y"] + first[3:]),  # not a number
             " ".join(first[:1] + ["0", "0", "0"])]  # not a direction
    (d / "train.txt").write_text("\n".join(lines + extra) + "\n")
    os.remove(frames / "000000.jpg")  # the first centre (frame 3) loses its frame -3
    _cut(frames / "000008.jpg", frames / "000008.jpg")  # centre 5 holds it as frame +3: cut short
    out = str(tmp_path / "o")
    s = make_rec.main(["gaze360", str(d), "--out", out, "-j", "1", "--size", "32", "--missing_frames", "reject"])
    n = len(lines)
    centres = {int(line.split()[0].split("/")[-1][:-4]): k + 1 for k, line in enumerate(lines) if rec in line}
    expected = {centres[3]: "frame file not found", n + 1: "expected 4 tokens", n + 2: "not a number",
                n + 3: "not a finite non-zero vector"}
    expected.update({centres[c]: "JPEG cut short" for c in centres if c >= 5})
    _assert_named(_rejects(out), d / "train.txt", expected)
    assert s["train"]["written"] == n - len(expected) + 3


def test_photos_make_synthetic_writes_cut_short_are_rejected_exactly(tmp_path):
    from tools.synth.formats import write_course21, write_gaze360, write_mc4
    truth = write_course21(str(tmp_path / "c"), 12, seed=11, truncate=2)
    flagged = {t["line"] for t in truth if t["expect_reject"]}
    out = str(tmp_path / "co")
    make_rec.main(["course21", str(tmp_path / "c" / "I"), "--out", out, "--test_ratio", "0", "--neg_ratio", "0",
                   "-j", "1"])
    assert {line for (_, line) in _rejects(out)} == flagged and flagged
    truth = write_mc4(str(tmp_path / "m"), 10, seed=12, test_ratio=0, truncate=2)
    out = str(tmp_path / "mo")
    s = make_rec.main(["mc4", str(tmp_path / "m" / "train"), "--out", out, "-j", "1"])
    flagged = {3 * t["record"] - 2 for t in truth if t["expect_reject"]}
    assert {line for (_, line) in _rejects(out)} == flagged and len(flagged) == 2
    assert s["train"]["written"] == 8
    truth = write_gaze360(str(tmp_path / "g"), 3, seed=13, frames=9, truncate=2)
    out = str(tmp_path / "go")
    make_rec.main(["gaze360", str(tmp_path / "g"), "--out", out, "-j", "1", "--size", "16", "--missing_frames",
                   "reject"])
    flagged = {(t["split"], t["line"]) for t in truth if t["expect_reject"]}
    got = {(os.path.basename(p)[:-4], line) for (p, line) in _rejects(out)}
    assert got == flagged and flagged
    assert sum(len(ArchiveReader(os.path.join(out, s)).keys) for s in ("train", "validation", "test")
               if os.path.exists(os.path.join(out, s + ".rec"))) == len(truth) - len(flagged)
    # the default (the source's loader) keeps them with a white frame, each named in the split's notes
    out = str(tmp_path / "gw")
    make_rec.main(["gaze360", str(tmp_path / "g"), "--out", out, "-j", "1", "--size", "16"])
    assert not _rejects(out)
    noted = set()
    for name in os.listdir(out):
        if name.endswith(".notes.txt"):
            for row in open(os.path.join(out, name)).read().splitlines():
                noted.add((os.path.basename(row.split(":")[0])[:-4], int(row.split(":")[1])))
                assert "made white" in row and "cut short" in row
    assert noted == flagged
