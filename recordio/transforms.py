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
from .schema import get_schema, landmark_layout


BRIGHTNESS_RANGE = 60.0  # grey levels of brightness shift at colour strength 1


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
    """

    def __init__(self, schema, size=112, channels=3, train=True, flip=0.5, rotate=30.0, scale=(0.9, 1.1),
                 shift=0.08, color=0.3, gray=0.1, seed=None):
        self.schema = get_schema(schema) if isinstance(schema, str) else schema
        self.layout = landmark_layout(self.schema)
        self.size = int(size)
        self.channels = int(channels)
        self.train = train
        self.flip, self.rotate, self.scale, self.shift = flip, rotate, tuple(scale), shift
        self.color, self.gray = color, gray
        self._seed = seed
        self._rng = None

    def _random(self):
        if self._rng is None:  # one generator per worker process
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def sample_params(self, in_w, in_h):
        """Draw (affine input->output px, flipped) for one sample."""
        s = self.size
        base = geometry.box_to_crop_affine((0, 0, in_w, in_h), s, s)
        if not self.train:
            return base, False
        rng = self._random()
        angle = rng.uniform(-self.rotate, self.rotate) if self.rotate else 0.0
        zoom = rng.uniform(*self.scale)
        shift = rng.uniform(-self.shift, self.shift, 2) * s
        aug = geometry.similarity_affine((s / 2, s / 2), angle, zoom, shift)
        flipped = rng.uniform() < self.flip
        M = geometry.compose_affine(aug, base)
        if flipped:
            M = geometry.compose_affine(np.array([[-1.0, 0.0, s], [0.0, 1.0, 0.0]]), M)
        return M, flipped

    def apply(self, image, label, M, flipped):
        """Warp ``image`` by ``M`` and update ``label``; returns (HxWxC uint8, label)."""
        L = self.layout
        s = self.size
        out = geometry.warp(image, M, s, s, interpolation=cv2.INTER_LINEAR)
        if out.ndim == 2:
            out = out[:, :, None]
        lab = np.array(label, dtype=np.float32)
        pts = geometry.apply_affine(M, L.get(lab, "points").reshape(-1, 2))
        euler = L.get(lab, "euler").astype(np.float64)
        # the in-plane part of M (before any flip) turns the head about the optical axis
        lin = np.diag([-1.0, 1.0]) @ M[:, :2] if flipped else M[:, :2]
        angle = np.degrees(np.arctan2(lin[1, 0], lin[0, 0]))
        if abs(angle) > 1e-9 and np.any(euler):
            euler = np.array(geometry.matrix_to_euler(geometry.rot_z(np.radians(angle))
                                                      @ geometry.euler_to_matrix(*euler)))
        if flipped:
            pts = pts[list(self.schema.flip_perm)]
            euler = geometry.flip_euler(euler)
        lab[L.slice("points")] = pts.ravel()
        lab[L.slice("euler")] = euler
        lab[L.slice("affine")] = geometry.compose_affine(L.get(lab, "affine").reshape(2, 3),
                                                         geometry.invert_affine(M)).ravel()
        return out, lab

    def photometric(self, img):
        """Contrast, brightness and saturation jitter and random grayscale, in uint8 (one LUT, one blend)."""
        if not self.train:
            return img
        rng = self._random()
        colour = img.shape[2] == 3
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if colour else img[:, :, 0]
        if self.color > 0:
            contrast = rng.uniform(1 - self.color, 1 + self.color)
            bright = rng.uniform(-self.color, self.color) * BRIGHTNESS_RANGE
            mean = cv2.mean(gray)[0]
            lut = np.clip(np.arange(256) * contrast + (1 - contrast) * mean + bright, 0, 255).astype(np.uint8)
            img = cv2.LUT(img, lut)
            if img.ndim == 2:
                img = img[:, :, None]
            if colour:
                gray = cv2.LUT(gray, lut)
                sat = rng.uniform(1 - self.color, 1 + self.color)
                img = cv2.addWeighted(img, sat, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 1 - sat, 0)
        if colour and rng.uniform() < self.gray:
            img = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        return img

    def __call__(self, image, label):
        h, w = image.shape[:2]
        M, flipped = self.sample_params(w, h)
        out, lab = self.apply(image, label, M, flipped)
        out = self.photometric(out)
        if self.channels == 1 and out.shape[2] == 3:
            out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)[:, :, None]
        elif self.channels == 3 and out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        return np.ascontiguousarray(out.transpose(2, 0, 1)), lab


def landmark_presets(schema, size=112, channels=3, **train_kwargs):
    """(train transform, val transform) for a landmark schema."""
    return (LandmarkTransform(schema, size, channels, train=True, **train_kwargs),
            LandmarkTransform(schema, size, channels, train=False))
