import struct

import mxnet as mx
import numpy as np
import pytest

from recordio.dataset import ArchiveReader, RecordDataset
from recordio.schema import ArchiveError, landmark_layout, COURSE21
from recordio.writer import MAGIC, ArchiveWriter, encode_image, frame_record


def _write(prefix, n=5, size=32, payload_hook=None):
    layout = landmark_layout(COURSE21)
    meta = {"task": "landmarks", "label_layout_obj": layout, "image": {"width": size, "height": size, "channels": 3},
            "schema": "course21"}
    rng = np.random.default_rng(0)
    labels, images = [], []
    with ArchiveWriter(prefix, meta) as w:
        for i in range(n):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            lab = layout.pack(face=1, points=rng.uniform(0, size, (21, 2)), line=i + 1)
            data = encode_image(img, "png")
            if payload_hook:
                data = payload_hook(i, data)
            w.write(lab, data)
            labels.append(lab)
            images.append(img)
        w.close()
    return labels, images


def test_round_trip_through_our_reader(tmp_path):
    labels, images = _write(str(tmp_path / "a"))
    r = ArchiveReader(str(tmp_path / "a"))
    assert len(r) == 5
    for i in range(5):
        img, lab = r.read(i)
        np.testing.assert_array_equal(img, images[i])
        np.testing.assert_array_equal(lab, labels[i])


def test_mxnet_reads_our_records(tmp_path):
    labels, images = _write(str(tmp_path / "a"))
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "a.idx"), str(tmp_path / "a.rec"), "r")
    header, img = mx.recordio.unpack_img(rec.read_idx(3))
    assert header.flag == 63 and header.id == 3
    np.testing.assert_array_equal(header.label, labels[3])
    np.testing.assert_array_equal(img, images[3])


def test_records_containing_the_magic_word_are_split_like_dmlc(tmp_path):
    magic = struct.pack("<I", MAGIC)

    def hook(i, data):
        return data + b"\0" * ((-len(data)) % 4) + magic + b"tail" + magic  # aligned occurrences
    _write(str(tmp_path / "m"), n=3, payload_hook=hook)
    rec = mx.recordio.MXIndexedRecordIO(str(tmp_path / "m.idx"), str(tmp_path / "m.rec"), "r")
    ours = ArchiveReader(str(tmp_path / "m"))
    for i in range(3):
        theirs = rec.read_idx(i)
        assert theirs == ours.read_payload(i)
        assert theirs.endswith(magic + b"tail" + magic)
    assert frame_record(magic).count(magic) == 2  # split: the part header plus the final part header


def test_mxnet_writer_output_equals_ours_byte_for_byte(tmp_path):
    payload = b"abcd" + struct.pack("<I", MAGIC) + b"xyz"
    w = mx.recordio.MXRecordIO(str(tmp_path / "x.rec"), "w")
    w.write(payload)
    w.close()
    assert (tmp_path / "x.rec").read_bytes() == frame_record(payload)


def test_image_record_iter_reads_with_label_width_from_meta(tmp_path):
    labels, _ = _write(str(tmp_path / "a"), n=4)
    r = ArchiveReader(str(tmp_path / "a"))
    it = mx.io.ImageRecordIter(path_imgrec=str(tmp_path / "a.rec"), path_imgidx=str(tmp_path / "a.idx"),
                               data_shape=(3, 32, 32), label_width=r.layout.width, batch_size=4, shuffle=False)
    batch = it.next()
    np.testing.assert_allclose(batch.label[0].asnumpy(), np.stack(labels))


def test_truncated_archive_names_file_and_record(tmp_path):
    _write(str(tmp_path / "t"))
    path = tmp_path / "t.rec"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    r = ArchiveReader(str(tmp_path / "t"))
    with pytest.raises(ArchiveError, match=r"t\.rec: record 4 is truncated"):
        r.read(4)
    r.read(0)  # earlier records still read


def test_corrupt_image_bytes_name_the_record(tmp_path):
    _write(str(tmp_path / "c"), payload_hook=lambda i, d: d if i != 2 else b"\x00" * len(d))
    r = ArchiveReader(str(tmp_path / "c"))
    with pytest.raises(ArchiveError, match=r"c\.rec: record 2: image bytes do not decode"):
        r.read(2)


def test_label_width_mismatch_is_reported(tmp_path):
    _write(str(tmp_path / "w"))
    meta_path = tmp_path / "w.meta.json"
    meta_path.write_text(meta_path.read_text().replace('"length": 6,', '"length": 5,', 1))
    with pytest.raises(ArchiveError):
        ArchiveReader(str(tmp_path / "w")).read(0)


def test_unfinished_archive_is_not_visible(tmp_path):
    layout = landmark_layout(COURSE21)
    with pytest.raises(RuntimeError):
        with ArchiveWriter(str(tmp_path / "u"), {"task": "x", "label_layout_obj": layout, "image": {}}) as w:
            w.write(layout.pack(), b"123")
            raise RuntimeError("interrupted")
    assert not any(p.name.startswith("u.") for p in tmp_path.iterdir())


def test_shards_partition_the_records(tmp_path):
    _write(str(tmp_path / "s"), n=7)
    keys = [ArchiveReader(str(tmp_path / "s"), part, 3).keys.tolist() for part in range(3)]
    assert sorted(sum(keys, [])) == list(range(7)) and keys[1] == [1, 4]


def test_dataloader_with_worker_processes_reads_every_record(tmp_path):
    labels, _ = _write(str(tmp_path / "d"), n=12)
    ds = RecordDataset(str(tmp_path / "d"), transform=lambda img, lab: (img.astype(np.float32), lab))
    ds.reader.read(0)  # the parent opened the file before forking
    loader = mx.gluon.data.DataLoader(ds, batch_size=4, num_workers=2)
    got = np.concatenate([lab.asnumpy() for _, lab in loader])
    np.testing.assert_allclose(got, np.stack(labels))
