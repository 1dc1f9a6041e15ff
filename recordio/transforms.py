"""Train/val transform presets for landmark records (numpy + OpenCV, used inside DataLoader workers).

A transform takes ``(image HxWxC uint8, label)`` from ``RecordDataset`` and
returns ``(data CxSxS uint8, label)`` (the training loop casts to float32 on the
device: a quarter of the bytes cross from the loader workers).  The label keeps the
archive's layout with every field updated: points in output pixels, the
affine mapping output pixels back to the original photo, Euler angles turned
with the image (a flip negates yaw and roll and permutes points by the
schema; an in-plane rotation composes into the head rotation).  The network
owns its normalisation, so data stay in pixel units.
"""
import cv2
import numpy as np

from . import geometry
from .schema import gaze_dataset, get_schema, landmark_layout, tiles_size


BRIGHTNESS_RANGE = 60.0  # grey levels of brightness shift at colour strength 1


def jitter_colour(img, rng, strength, gray_prob):
    """Contrast, brightness and saturation jitter and random grayscale of an HxWxC uint8 image.

    One lookup table for contrast and brightness and one blend for saturation, all in uint8.
    """
    colour = img.shape[2] == 3
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if colour else img[:, :, 0]
    if strength > 0:
        contrast = rng.uniform(1 - strength, 1 + strength)
        bright = rng.uniform(-strength, strength) * BRIGHTNESS_RANGE
        mean = cv2.mean(gray)[0]
        lut = np.clip(np.arange(256) * contrast + (1 - contrast) * mean + bright, 0, 255).astype(np.uint8)
        img = cv2.LUT(img, lut)
        if img.ndim == 2:
            img = img[:, :, None]
        if colour:
            gray = cv2.LUT(gray, lut)
            sat = rng.uniform(1 - strength, 1 + strength)
            img = cv2.addWeighted(img, sat, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 1 - sat, 0)
    if colour and rng.uniform() < gray_prob:
        img = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return img


class LandmarkTransform:
    """Geometric and photometric augmentation for landmark crops.

    Parameters
    ----------
    schema : str or LandmarkSchema
    size : output side, px
    channels : 1 (grayscale) or 3 (BGR)
    train : False gives the validation preset (resize only)
    flip : probability of a horizontal flip
    rotate : max rotation, degrees (uniform in +-rotate)
    scale : (min, max) zoom
    shift : max shift as a share of ``size``
    color : strength of brightness/contrast/saturation jitter (0 = none)
    gray : probability of turning a colour sample gray (kept 3-channel)
    lowres : probability of a small face: the record is downscaled by a factor in ``lowres_factor`` and
        blurred before the crop is warped out of it, as a face 25-40 px wide in its photo looks
    """

    def __init__(self, schema, size=112, channels=3, train=True, flip=0.5, rotate=30.0, scale=(0.9, 1.1),
                 shift=0.08, color=0.3, gray=0.1, lowres=0.0, lowres_factor=(2.0, 4.0), seed=None):
        self.schema = get_schema(schema) if isinstance(schema, str) else schema
        self.layout = landmark_layout(self.schema)
        self.size = int(size)
        self.channels = int(channels)
        self.train = train
        self.flip, self.rotate, self.scale, self.shift = flip, rotate, tuple(scale), shift
        self.color, self.gray = color, gray
        self.lowres, self.lowres_factor = lowres, tuple(lowres_factor)
        self._seed = seed
        self._rng = None

    def _random(self):
        if self._rng is None:  # one generator per worker process
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def sample_params(self, in_w, in_h, rng=None):
        """Draw (affine input->output px, flipped) for one sample from ``rng`` (default: this transform's own)."""
        s = self.size
        base = geometry.box_to_crop_affine((0, 0, in_w, in_h), s, s)
        if not self.train:
            return base, False
        rng = rng or self._random()
        angle = rng.uniform(-self.rotate, self.rotate) if self.rotate else 0.0
        zoom = rng.uniform(*self.scale)
        shift = rng.uniform(-self.shift, self.shift, 2) * s
        aug = geometry.similarity_affine((s / 2, s / 2), angle, zoom, shift)
        flipped = rng.uniform() < self.flip
        M = geometry.compose_affine(aug, base)
        if flipped:
            M = geometry.compose_affine(geometry.mirror_affine(s), M)
        return M, flipped

    def apply(self, image, label, M, flipped, pixels=None):
        """Warp ``image`` by ``M`` and update ``label``; returns (HxWxC uint8, label).  ``pixels`` (optional):
        (another image, its affine to ``image``'s px) to take the pixels from instead (``small_face``)."""
        L = self.layout
        s = self.size
        if pixels is None:
            out = geometry.warp(image, M, s, s, interpolation=cv2.INTER_LINEAR)
        else:
            out = geometry.warp(pixels[0], geometry.compose_affine(M, pixels[1]), s, s, interpolation=cv2.INTER_LINEAR)
        if out.ndim == 2:
            out = out[:, :, None]
        lab = np.array(label, dtype=np.float32)
        unflipped = geometry.compose_affine(geometry.mirror_affine(s), M) if flipped else M  # a mirror undoes itself
        pts = geometry.apply_affine(unflipped, L.get(lab, "points").reshape(-1, 2))
        euler = L.get(lab, "euler").astype(np.float64)
        if np.any(euler):  # all zero: no angles known (non-face crops); the crop's turn turns the head
            euler = geometry.roll_euler(euler, geometry.affine_rotation_deg(unflipped))
        if flipped:
            pts = geometry.flip_points(pts, s, self.schema.flip_perm)
            euler = geometry.flip_euler(euler)
        lab[L.slice("points")] = pts.ravel()
        lab[L.slice("euler")] = euler
        lab[L.slice("affine")] = geometry.compose_affine(L.get(lab, "affine").reshape(2, 3),
                                                         geometry.invert_affine(M)).ravel()
        return out, lab

    def small_face(self, image, rng):
        """The record downscaled by a random factor and blurred: a crop warped out of it shows the detail a
        small face has.  Returns (small image, affine small px -> record px)."""
        h, w = image.shape[:2]
        factor = rng.uniform(*self.lowres_factor)
        sw, sh = max(1, int(round(w / factor))), max(1, int(round(h / factor)))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        sigma = rng.uniform(0.0, 0.8)
        if sigma > 0.3:
            small = cv2.GaussianBlur(small, (0, 0), sigma)
        if small.ndim == 2:
            small = small[:, :, None]
        return small, geometry.box_to_crop_affine((0, 0, sw, sh), w, h)  # continuous coordinates scale exactly

    def photometric(self, img, rng=None):
        """Colour jitter of the train preset (identity for validation)."""
        if not self.train:
            return img
        return jitter_colour(img, rng or self._random(), self.color, self.gray)

    def __call__(self, image, label, rng=None):
        """``rng``: the sample's own random stream (``RecordDataset(seed=...)``); default: this transform's."""
        h, w = image.shape[:2]
        M, flipped = self.sample_params(w, h, rng)
        pixels = None
        if self.train and self.lowres and (rng or self._random()).uniform() < self.lowres:
            pixels = self.small_face(image, rng or self._random())
        out, lab = self.apply(image, label, M, flipped, pixels)
        out = self.photometric(out, rng)
        if self.channels == 1 and out.shape[2] == 3:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[:, :, None]
        elif self.channels == 3 and out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        return np.ascontiguousarray(out.transpose(2, 0, 1)), lab


def landmark_presets(schema, size=112, channels=3, **train_kwargs):
    """(train transform, val transform) for a landmark schema."""
    return (LandmarkTransform(schema, size, channels, train=True, **train_kwargs),
            LandmarkTransform(schema, size, channels, train=False))


CROP_ASPECT = (3.0 / 4.0, 4.0 / 3.0)  # torchvision's RandomResizedCrop aspect range (Gaze360's augmentation)


def random_resized_box(rng, w, h, area=(0.8, 1.0), aspect=CROP_ASPECT, tries=10):
    """A random box (x1, y1, x2, y2) inside a ``w`` x ``h`` view covering ``area`` of it at an aspect in
    ``aspect`` (log-uniform), as torchvision's RandomResizedCrop draws it; the whole view when no draw fits."""
    for _ in range(tries):
        share = rng.uniform(*area)
        ratio = np.exp(rng.uniform(*np.log(aspect)))
        bw, bh = np.sqrt(share * w * h * ratio), np.sqrt(share * w * h / ratio)
        if bw <= w and bh <= h:
            x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            return x1, y1, x1 + bw, y1 + bh
    return 0.0, 0.0, float(w), float(h)


class GazeTransform:
    """Train/val transform for gaze records (MC4 tiles, MPIIFaceGaze faces, Gaze360 frame rows).

    Each view (tile) gets the same small zoom and shift (or, with ``crop_scale``, its own random resized
    crop covering that range of its area, as Gaze360 trains), is resized to ``tiles_out`` (the network's
    tile grid) and optionally mirrored; a flip does what the dataset's entry says (``schema.GazeDataset``):
    swaps views (MC4's eyes), negates every yaw-like label value and permutes the face points.
    ``swap_views`` (training only): the probability that the views the flip swaps trade places without any
    mirroring (MC4's one-eye network sees the left tile: the source's eye picked at random per sample).
    Returns ``(C x H x W uint8, label)``.
    """

    def __init__(self, dataset, layout, tiles_in, tiles_out, channels=3, train=True, flip=0.5, scale=0.05,
                 shift=0.04, color=0.3, crop_scale=None, seed=None, swap_views=0.0):
        self.dataset = gaze_dataset(dataset) if isinstance(dataset, str) else dataset
        self.layout = layout
        self.tiles_in = {t["name"]: t for t in tiles_in}
        self.tiles_out = list(tiles_out)
        self.channels, self.train = channels, train
        self.flip, self.scale, self.shift, self.color = flip, scale, shift, color
        self.crop_scale = tuple(crop_scale) if crop_scale else None
        self.swap_views = swap_views
        self.width, self.height = tiles_size(self.tiles_out)
        self.swap = {}
        for a, b in self.dataset.flip_swaps:
            self.swap.update({a: b, b: a})
        self._seed = seed
        self._rng = None

    def _random(self):
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def __call__(self, image, label, rng=None):
        """``rng``: the sample's own random stream (``RecordDataset(seed=...)``); default: this transform's."""
        rng = rng or self._random()
        flipped = self.train and rng.uniform() < self.flip
        zoom = rng.uniform(1 - self.scale, 1 + self.scale) if self.train else 1.0
        shift = rng.uniform(-self.shift, self.shift, 2) if self.train else np.zeros(2)
        traded = self.train and self.swap_views > 0 and rng.uniform() < self.swap_views
        out = np.zeros((self.height, self.width, image.shape[2]), np.uint8)
        for t in self.tiles_out:
            name = self.swap.get(t["name"], t["name"]) if flipped != traded else t["name"]  # mirrored, left is right
            src = self.tiles_in[name]
            view = image[src["y"]:src["y"] + src["h"], src["x"]:src["x"] + src["w"]]
            if self.train and self.crop_scale:  # each view its own random resized crop
                A = geometry.box_to_crop_affine(random_resized_box(rng, src["w"], src["h"], self.crop_scale),
                                                t["w"], t["h"])
            else:
                A = geometry.box_to_crop_affine((0, 0, src["w"], src["h"]), t["w"], t["h"])
                A = geometry.compose_affine(geometry.similarity_affine((t["w"] / 2, t["h"] / 2), 0.0, zoom,
                                                                       shift * [t["w"], t["h"]]), A)
            if flipped:
                A = geometry.compose_affine(geometry.mirror_affine(t["w"]), A)
            warped = geometry.warp(view, A, t["w"], t["h"])
            out[t["y"]:t["y"] + t["h"], t["x"]:t["x"] + t["w"]] = warped.reshape(t["h"], t["w"], -1)
            if self.dataset.flip_points is not None:  # the face's points move with its one view
                pts = geometry.apply_affine(A, self.layout.get(label, "points").reshape(-1, 2))
                label = np.array(label, np.float32)
                label[self.layout.slice("points")] = (pts[list(self.dataset.flip_points)] if flipped else pts).ravel()
        if self.train:
            out = jitter_colour(out, rng, self.color, 0.0)
        if self.channels == 1 and out.shape[2] == 3:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[:, :, None]
        lab = np.array(label, np.float32)
        if flipped:
            self.flip_label(lab)
        return np.ascontiguousarray(out.transpose(2, 0, 1)), lab

    def flip_label(self, lab):
        """Flip the label fields the dataset names, in place, by ``geometry.flip_vector`` (angles through their
        vectors: every yaw-like angle is negated)."""
        ds, L = self.dataset, self.layout
        for name in ds.flip_angles:
            lab[L.slice(name)] = ds.from_vector(geometry.flip_vector(ds.to_vector(L.get(lab, name).astype(np.float64))))
        for name in ds.flip_vectors:
            lab[L.slice(name)] = geometry.flip_vector(L.get(lab, name))
        return lab
