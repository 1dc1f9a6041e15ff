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
    """Contrast, brightness and saturation jitter and random grayscale of an HxWxC uint8 image (``rng``: a
    numpy Generator)."""
    return jitter_colour_drawn(img, rng.uniform(size=4), strength, gray_prob)


def jitter_colour_drawn(img, u, strength, gray_prob):
    """``jitter_colour`` with its four draws given (``u``: uniforms in [0, 1): contrast, brightness,
    saturation, grayscale).

    Contrast c about the grey mean m, brightness shift b and saturation s (a blend with the grey image g) in
    one weighted sum rounded and clipped once: ``c s img + c (1 - s) g + (1 - c) m + b``; grayscale is s = 0.
    """
    colour = img.shape[2] == 3
    gray_now = colour and u[3] < gray_prob
    if strength <= 0 and not gray_now:
        return img
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if colour else img[:, :, 0]
    contrast, bright, sat = 1.0, 0.0, 1.0
    if strength > 0:
        contrast = 1 - strength + 2 * strength * u[0]
        bright = (2 * u[1] - 1) * strength * BRIGHTNESS_RANGE
        sat = 1 - strength + 2 * strength * u[2]
    offset = (1 - contrast) * cv2.mean(gray)[0] + bright
    if not colour:
        return cv2.addWeighted(gray, contrast, gray, 0.0, offset)[:, :, None]
    if gray_now:
        sat = 0.0
    return cv2.addWeighted(img, contrast * sat, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), contrast * (1 - sat), offset)


# the columns of a landmark sample's draws (uniforms in [0, 1)), in this order
DRAWS = ("angle", "zoom", "shift_x", "shift_y", "flip", "lowres", "lowres_factor", "lowres_blur",
         "contrast", "brightness", "saturation", "gray")


class LandmarkTransform:
    """Geometric and photometric augmentation for landmark crops.

    Every geometric augmentation (zoom, turn, shift, flip) is one affine warp per sample.  A sample's random
    choices are the row of uniforms ``DRAWS`` names: ``batch`` takes them for a whole batch (the dataset
    derives them from (seed, epoch, sample)) and does the label arithmetic for the batch at once.

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

    draws = len(DRAWS)

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
        self._perm = np.asarray(self.schema.flip_perm)

    def _random(self):
        if self._rng is None:  # one generator per worker process
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def uniforms(self, n, rng=None):
        """(n, ``draws``) uniforms from ``rng`` (default: this transform's own generator)."""
        return (rng or self._random()).random((n, self.draws))

    def affines(self, sizes, u):
        """The affines input px -> output px (N, 2, 3) and flips (N,) of samples of ``sizes`` (N, 2) (w, h)
        drawn as ``u`` (N, ``draws``) says."""
        s = self.size
        sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
        n = len(sizes)
        M = np.zeros((n, 2, 3))
        M[:, 0, 0], M[:, 1, 1] = s / sizes[:, 0], s / sizes[:, 1]  # the record fills the output
        if not self.train:
            return M, np.zeros(n, bool)
        u = np.asarray(u, np.float64).reshape(n, -1)
        angle = (2 * u[:, 0] - 1) * self.rotate if self.rotate else np.zeros(n)
        zoom = self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 1]
        shift = (2 * u[:, 2:4] - 1) * self.shift * s
        M = geometry.compose_affine(geometry.similarity_affine((s / 2, s / 2), angle, zoom, shift), M)
        flipped = u[:, 4] < self.flip
        M[flipped] = geometry.compose_affine(geometry.mirror_affine(s), M[flipped])
        return M, flipped

    def sample_params(self, in_w, in_h, rng=None):
        """Draw (affine input->output px, flipped) for one sample from ``rng`` (default: this transform's own)."""
        M, flipped = self.affines([[in_w, in_h]], self.uniforms(1, rng))
        return M[0], bool(flipped[0])

    def labels(self, labels, M, flipped):
        """The labels (N, width) of samples warped by ``M`` (N, 2, 3) and flipped as ``flipped`` (N,) says."""
        L, s = self.layout, self.size
        lab = np.array(labels, dtype=np.float32).reshape(len(M), -1)
        M = np.asarray(M, np.float64).reshape(-1, 2, 3)
        flipped = np.asarray(flipped, bool)
        unflipped = M.copy()  # a mirror undoes itself
        unflipped[flipped] = geometry.compose_affine(geometry.mirror_affine(s), M[flipped])
        pts = geometry.apply_affines(unflipped, L.get(lab, "points").reshape(len(M), -1, 2))
        euler = L.get(lab, "euler").astype(np.float64)
        turn = geometry.affine_rotation_deg(unflipped)
        turned = np.any(euler != 0, axis=1) & (np.abs(turn) >= 1e-9)  # all zero: no angles known (non-faces)
        if turned.any():  # the crop's turn turns the head (geometry.roll_euler)
            R = geometry.rot_z(np.radians(turn[turned])) @ geometry.euler_to_matrix(*euler[turned].T)
            euler[turned] = np.stack(geometry.matrix_to_euler(R), -1)
        if flipped.any():
            pts[flipped] = geometry.flip_points(pts[flipped], s, self._perm)
            euler[flipped] = geometry.flip_euler(euler[flipped])
        lab[:, L.slice("points")] = pts.reshape(len(M), -1)
        lab[:, L.slice("euler")] = euler
        lab[:, L.slice("affine")] = geometry.compose_affine(L.get(lab, "affine").reshape(-1, 2, 3),
                                                            geometry.invert_affine(M)).reshape(len(M), -1)
        return lab

    def apply(self, image, label, M, flipped, pixels=None):
        """Warp ``image`` by ``M`` and update ``label``; returns (HxWxC uint8, label).  ``pixels`` (optional):
        (another image, its affine to ``image``'s px) to take the pixels from instead (``small_face``)."""
        return self._warp(image, M, pixels), self.labels(np.asarray(label)[None], np.asarray(M)[None],
                                                         [flipped])[0]

    def _warp(self, image, M, pixels=None):
        s = self.size
        if pixels is not None:
            image, M = pixels[0], geometry.compose_affine(M, pixels[1])
        warped = geometry.warp(image, M, s, s, interpolation=cv2.INTER_LINEAR)
        return warped[:, :, None] if warped.ndim == 2 else warped

    def small_face(self, image, rng=None, u=None, size=None):
        """The record downscaled by a random factor and blurred: a crop warped out of it shows the detail a
        small face has.  Returns (small image, affine small px -> record px).  ``u``: the two draws (factor,
        blur) in [0, 1), else drawn from ``rng``; ``size``: the record's (w, h) when ``image`` is the record
        decoded scaled down."""
        u = (rng or self._random()).uniform(size=2) if u is None else u
        w, h = image.shape[1::-1] if size is None else (int(size[0]), int(size[1]))
        factor = self.lowres_factor[0] + (self.lowres_factor[1] - self.lowres_factor[0]) * u[0]
        sw, sh = max(1, int(round(w / factor))), max(1, int(round(h / factor)))
        small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA)
        sigma = 0.8 * u[1]
        if sigma > 0.3:
            small = cv2.GaussianBlur(small, (0, 0), sigma)
        if small.ndim == 2:
            small = small[:, :, None]
        return small, geometry.box_to_crop_affine((0, 0, sw, sh), w, h)  # continuous coordinates scale exactly

    def photometric(self, img, rng=None, u=None):
        """Colour jitter of the train preset (identity for validation); ``u``: its four draws, else from ``rng``."""
        if not self.train:
            return img
        return jitter_colour_drawn(img, (rng or self._random()).uniform(size=4) if u is None else u, self.color,
                                   self.gray)

    def decode_reduction(self, width, height):
        """The largest JPEG scale-down (1, 2, 4 or 8) of a ``width`` x ``height`` record at which output pixels
        stay at least one decoded pixel apart at the widest zoom: the warp then reads no detail that the
        scaled-down decode drops, at a fraction of the decoding time."""
        step = min(width, height) / self.size / (self.scale[1] if self.train else 1.0)
        r = 1
        while r < 8 and 2 * r <= step:
            r *= 2
        return r

    def batch(self, images, labels, u=None, out=None, sizes=None):
        """Transform a batch: ``images`` a list of HxWxC uint8, ``labels`` (N, width), ``u`` (N, ``draws``) the
        samples' draws (default: from this transform's generator).  ``sizes`` (N, 2): the records' (w, h) when
        an image was decoded scaled down (``decode_reduction``; labels stay in record px).  Returns
        (N x C x S x S uint8, labels), the data written into ``out`` when given."""
        n = len(images)
        u = self.uniforms(n) if u is None else np.asarray(u, np.float64).reshape(n, self.draws)
        shown = np.array([im.shape[1::-1] for im in images], np.float64).reshape(n, 2)
        sizes = shown if sizes is None else np.asarray(sizes, np.float64).reshape(n, 2)
        M, flipped = self.affines(sizes, u)
        lab = self.labels(labels, M, flipped)
        s, c = self.size, self.channels
        out = np.empty((n, c, s, s), np.uint8) if out is None else out
        for k, image in enumerate(images):
            r = round(sizes[k, 0] / shown[k, 0])
            pixels = None
            if r > 1:  # decoded at 1/r: its pixel i covers record px [r i, r (i + 1))
                pixels = (image, np.array([[r, 0.0, 0.0], [0.0, r, 0.0]]))
            if self.train and self.lowres and u[k, 5] < self.lowres:
                pixels = self.small_face(image, u=u[k, 6:8], size=sizes[k])
            img = self.photometric(self._warp(image, M[k], pixels), u=u[k, 8:12])
            if c == 1 and img.shape[2] == 3:
                img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]
            out[k] = img.transpose(2, 0, 1)  # a gray record broadcasts over 3 channels
        return out, lab

    def __call__(self, image, label, rng=None):
        """``rng``: the sample's own random stream (``RecordDataset(seed=...)``); default: this transform's."""
        data, lab = self.batch([image], np.asarray(label)[None], self.uniforms(1, rng))
        return data[0], lab[0]


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
