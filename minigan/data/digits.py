"""Handwritten-like digits rendered from the fonts that matplotlib ships: an image data set that needs no download.

How a digit is made:
1. Each (font, digit) glyph is rendered once by FreeType at high resolution (112 pixels per em), thresholded,
   and turned into a signed distance field (SDF: distance to the outline in template pixels, negative inside).
   Its mean stroke width is estimated from the inside distances. The glyph is also thinned to its skeleton,
   whose distance field describes the same digit drawn with a pen of constant width (a "monoline" digit, as
   handwriting is, where a font's strokes swell and thin).
2. Each sample draws a font, a blend between the font's outline and its monoline form, an affine jitter
   (rotation, scale, aspect, shear, translation), a smooth wobble and a stroke width. Every output pixel is
   mapped back into its glyph's frame and both SDFs are sampled there bilinearly and blended: all samples at
   once, in NumPy.
3. Thresholding an SDF at offset d is a morphological dilation (d > 0) or erosion (d < 0) of the glyph by a
   disk of radius |d|, so the stroke width varies continuously per sample at no extra cost. A linear ramp one
   output pixel wide across the threshold anti-aliases the edges.

Digits are framed like MNIST's: the glyph's longer side spans about 20 pixels, centred at (14, 14) by the
midpoint of its centre of mass and its box centre (MNIST uses the centre of mass alone, which would push a
printed 7, all weight at the top, off the bottom); white strokes on black. At size 32 the same digits sit on a larger frame (as MNIST
padded to 32x32). With color=True the strokes get a random bright colour and the background a random dark one.

Generated sets are cached as .safetensors files (uint8 pixels) in MINIGAN_CACHE, else ~/.cache/minigan, written
atomically with minigan.save; a later load with the same arguments reads the file instead of rendering.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy

from minigan import serialization
from minigan.data.dataset import Dataset, DatasetFormatError, images_from_uint8, synthetic_rng
from minigan.files import cache_dir

VERSION = 1  # bump when the rendering changes, so that old cache files are not read as the new data
SIZES = (28, 32)
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf",
)
_EM_PIXELS = 112  # glyphs are rendered at this many pixels per em (a digit is about 80 pixels tall)
_MARGIN = 24  # template pixels kept around each glyph, so that dilation and sampling near the edge stay defined
_BOX = 20.0  # output pixels spanned by a digit's longer side before jitter (MNIST fits digits in a 20x20 box)
_CHUNK = 2048  # samples rendered at once (bounds the memory of the vectorised sampling)

# the per-sample jitter, in output pixels and radians where it has a unit
_ROTATION = numpy.deg2rad(12.0)  # uniform in [-12, 12] degrees
_SCALE = (0.8, 1.0)  # of the 20-pixel box
_ASPECT = (0.8, 1.15)  # horizontal stretch
_SHEAR = (-0.3, 0.15)  # x += shear * y (y downwards): negative leans the top to the right, as most handwriting
_SHIFT = 1.0  # uniform in [-1, 1] pixels on each axis
_STROKE = (2.0, 3.4)  # stroke width
_WOBBLE = (0.0, 0.7)  # amplitude of the smooth displacement
_WAVELENGTH = (18.0, 40.0)  # its wavelength


def font_paths() -> list[str]:
    """The font files digits are rendered from, inside matplotlib's mpl-data/fonts/ttf."""
    import matplotlib  # here, not at the top: importing minigan.data stays quick for data sets without fonts

    directory = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    paths = [os.path.join(directory, name) for name in FONT_FILES]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise FileNotFoundError(f"digits: matplotlib's fonts are missing: {', '.join(missing)}")
    return paths


def _glyph_coverage(path: str, char: str) -> numpy.ndarray:
    """The anti-aliased coverage (uint8, 0..255) of one character, cropped by FreeType to its bounding box."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(path)
    font.set_size(_EM_PIXELS, 72)  # 72 dpi: points are pixels
    font.set_text(char)
    font.draw_glyphs_to_bitmap(antialiased=True)
    return numpy.asarray(font.get_image())


def thin(ink: numpy.ndarray) -> numpy.ndarray:
    """The skeletons of a stack of binary images (T, H, W): Zhang and Suen's thinning, all images at once.

    Each pass removes, in two half-steps, the boundary pixels whose removal keeps the shape connected (one
    0-to-1 transition around them) and does not shorten a stroke (2 to 6 set neighbours), until none is left:
    what remains is a one-pixel-wide centre line.
    """
    img = ink.astype(bool, copy=True)
    changed = True
    while changed:
        changed = False
        for step in (0, 1):
            p = numpy.pad(img, ((0, 0), (1, 1), (1, 1)))
            # the 8 neighbours clockwise from north: N, NE, E, SE, S, SW, W, NW
            nb = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                  p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]
            count = sum(q.view(numpy.uint8) for q in nb)
            transitions = sum((~nb[i] & nb[(i + 1) % 8]).view(numpy.uint8) for i in range(8))
            if step == 0:  # not on a south-east boundary
                keep = (nb[0] & nb[2] & nb[4]) | (nb[2] & nb[4] & nb[6])
            else:  # not on a north-west boundary
                keep = (nb[0] & nb[2] & nb[6]) | (nb[0] & nb[4] & nb[6])
            remove = img & (count >= 2) & (count <= 6) & (transitions == 1) & ~keep
            if remove.any():
                img &= ~remove
                changed = True
    return img


def _largest_component(ink: numpy.ndarray) -> numpy.ndarray:
    """The largest 8-connected part of a binary glyph: a digit is one stroke (this drops the dot that a
    monospaced zero has inside)."""
    from scipy import ndimage

    labels, count = ndimage.label(ink, structure=numpy.ones((3, 3)))
    if count <= 1:
        return ink
    return labels == numpy.argmax(numpy.bincount(labels.ravel())[1:]) + 1


@functools.cache
def glyph_templates() -> dict[str, numpy.ndarray]:
    """The signed distance fields of every (font, digit) glyph, on one common square canvas.

    Returns a dict of arrays over templates t = font * 10 + digit: 'sdf' (T, S, S) float32 the outline's SDF,
    'mono' (T, S, S) float32 the SDF of the skeleton drawn with the glyph's mean stroke width, 'center' (T, 2)
    the point (row, col) of the canvas put at the frame's centre, 'extent' (T,) its longer bounding-box side and
    'stroke' (T,) its mean stroke width, all in template pixels.
    """
    from scipy import ndimage

    glyphs = []
    for path in font_paths():
        for digit in range(10):
            ink = _largest_component(_glyph_coverage(path, str(digit)) >= 128)
            rows, cols = numpy.nonzero(ink)
            if rows.size == 0:
                raise DatasetFormatError(f"digits: font {path} renders {digit!r} as an empty glyph")
            glyphs.append(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1])
    side = max(max(g.shape) for g in glyphs) + 2 * _MARGIN
    count = len(glyphs)
    sdf = numpy.empty((count, side, side), numpy.float32)
    inks = numpy.zeros((count, side, side), bool)
    center = numpy.empty((count, 2), numpy.float64)
    extent = numpy.empty(count, numpy.float64)
    stroke = numpy.empty(count, numpy.float64)
    for t, glyph in enumerate(glyphs):
        h, w = glyph.shape
        top, left = (side - h) // 2, (side - w) // 2
        ink = inks[t]
        ink[top:top + h, left:left + w] = glyph
        inside = ndimage.distance_transform_edt(ink)  # distance to the nearest background pixel
        outside = ndimage.distance_transform_edt(~ink)
        sdf[t] = numpy.where(ink, 0.5 - inside, outside - 0.5)  # the outline lies half a pixel off the centres
        # placed by the midpoint of the centre of mass and the box centre: pure centre of mass (MNIST's rule)
        # pushes top-heavy glyphs such as a printed 7 off the bottom of the frame
        rows, cols = numpy.nonzero(ink)
        center[t] = (rows.mean() + top + (h - 1) / 2) / 2, (cols.mean() + left + (w - 1) / 2) / 2
        extent[t] = max(h, w)
        # across a stroke of width s the inside distance runs evenly from 0 to s/2: its mean is s/4
        stroke[t] = 4.0 * float(numpy.mean(inside[ink] - 0.5))
    mono = numpy.empty_like(sdf)
    for t, skeleton in enumerate(thin(inks)):
        # pixels within (stroke - 1) / 2 of a one-pixel-wide centre line make a stroke `stroke` pixels wide
        mono[t] = ndimage.distance_transform_edt(~skeleton) + 0.5 - stroke[t] / 2
    return {"sdf": sdf, "mono": mono, "center": center, "extent": extent, "stroke": stroke}


def _draw_parameters(n: int, rng: numpy.random.Generator, num_fonts: int) -> dict[str, numpy.ndarray]:
    """Labels (balanced) and every per-sample random choice, drawn in a fixed order so that a seed fixes them."""
    labels = rng.permutation(numpy.arange(n) % 10).astype(numpy.int64)
    return {
        "label": labels,
        "font": rng.integers(0, num_fonts, size=n),
        "angle": rng.uniform(-_ROTATION, _ROTATION, n),
        "scale": rng.uniform(*_SCALE, n),
        "aspect": rng.uniform(*_ASPECT, n),
        "shear": rng.uniform(*_SHEAR, n),
        "shift": rng.uniform(-_SHIFT, _SHIFT, (n, 2)),
        "stroke": rng.uniform(*_STROKE, n),
        "outline": rng.uniform(0, 1, n),
        "wobble": rng.uniform(*_WOBBLE, (n, 2)),
        "wavelength": rng.uniform(*_WAVELENGTH, (n, 2)),
        "direction": rng.uniform(0, 2 * numpy.pi, (n, 2)),
        "phase": rng.uniform(0, 2 * numpy.pi, (n, 2)),
        "hsv_ink": numpy.stack([rng.uniform(0, 1, n), rng.uniform(0.5, 1, n), rng.uniform(0.75, 1, n)], axis=1),
        "hsv_paper": numpy.stack([rng.uniform(0, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 0.25, n)], axis=1),
    }


def _render_intensity(p: dict[str, numpy.ndarray], templates: dict[str, numpy.ndarray], size: int) -> numpy.ndarray:
    """The ink intensity in [0, 1], (B, size, size) float32, of the samples described by the parameters p."""
    tid = p["font"] * 10 + p["label"]
    side = templates["sdf"].shape[1]
    k = _BOX * p["scale"] / templates["extent"][tid]  # output pixels per template pixel

    # output pixel offsets from the frame centre (x right, y down), less the shift, plus the smooth wobble; the
    # centre is at size / 2 in pixel indices, where MNIST puts its digits' centres of mass
    axis = numpy.arange(size, dtype=numpy.float64) - size / 2
    oy, ox = numpy.meshgrid(axis, axis, indexing="ij")
    ox = ox.reshape(1, -1) - p["shift"][:, :1]
    oy = oy.reshape(1, -1) - p["shift"][:, 1:]
    wave, d = 2 * numpy.pi / p["wavelength"], p["direction"]
    wobble = [p["wobble"][:, j:j + 1] * numpy.sin(wave[:, j:j + 1] * (numpy.cos(d[:, j:j + 1]) * ox
                                                                      + numpy.sin(d[:, j:j + 1]) * oy)
                                                  + p["phase"][:, j:j + 1]) for j in (0, 1)]
    ox, oy = ox + wobble[0], oy + wobble[1]

    # forward map (template -> output) k * rotation @ shear @ aspect; sample through its inverse
    cos, sin = numpy.cos(p["angle"]), numpy.sin(p["angle"])
    forward = numpy.empty((len(tid), 2, 2))
    forward[:, 0, 0] = cos * p["aspect"]
    forward[:, 0, 1] = cos * p["shear"] - sin
    forward[:, 1, 0] = sin * p["aspect"]
    forward[:, 1, 1] = sin * p["shear"] + cos
    inverse = numpy.linalg.inv(forward) / k[:, None, None]
    tx = inverse[:, 0, :1] * ox + inverse[:, 0, 1:] * oy + templates["center"][tid, 1:]
    ty = inverse[:, 1, :1] * ox + inverse[:, 1, 1:] * oy + templates["center"][tid, :1]

    # bilinear interpolation of both SDFs; points off the canvas take the border's (far outside) values
    tx = numpy.clip(tx, 0, side - 1.001)
    ty = numpy.clip(ty, 0, side - 1.001)
    x0, y0 = tx.astype(numpy.int64), ty.astype(numpy.int64)
    fx, fy = (tx - x0).astype(numpy.float32), (ty - y0).astype(numpy.float32)
    base = tid[:, None] * (side * side) + y0 * side + x0

    def sample(field: numpy.ndarray) -> numpy.ndarray:
        flat = field.reshape(-1)
        top = flat[base] * (1 - fx) + flat[base + 1] * fx
        bottom = flat[base + side] * (1 - fx) + flat[base + side + 1] * fx
        return top * (1 - fy) + bottom * fy

    outline = p["outline"][:, None].astype(numpy.float32)
    distance = outline * sample(templates["sdf"]) + (1 - outline) * sample(templates["mono"])

    # dilate or erode to the drawn stroke width, then a one-output-pixel ramp across the outline
    offset = (p["stroke"] / k - templates["stroke"][tid]) / 2
    ink = 0.5 + (offset[:, None] - distance) * k[:, None]
    return numpy.clip(ink, 0, 1).astype(numpy.float32).reshape(-1, size, size)


def render_digits(n: int, size: int = 28, color: bool = False, rng: numpy.random.Generator | None = None,
                  ) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Render n digits: pixels (n, C, size, size) uint8 (C = 3 with color, else 1) and labels (n,) int64.

    The classes are balanced (counts differ by at most one); rng (default: seed 0) fixes everything drawn.
    """
    if size not in SIZES:
        raise ValueError(f"digits: size must be one of {SIZES}, got {size!r}")
    rng = numpy.random.default_rng(0) if rng is None else rng
    templates = glyph_templates()
    params = _draw_parameters(n, rng, len(templates["sdf"]) // 10)
    channels = 3 if color else 1
    pixels = numpy.empty((n, channels, size, size), numpy.uint8)
    if color:
        from matplotlib.colors import hsv_to_rgb

        ink_rgb = hsv_to_rgb(params["hsv_ink"]).astype(numpy.float32)
        paper_rgb = hsv_to_rgb(params["hsv_paper"]).astype(numpy.float32)
    for start in range(0, n, _CHUNK):
        part = slice(start, min(start + _CHUNK, n))
        intensity = _render_intensity({key: value[part] for key, value in params.items()}, templates, size)
        if color:
            paper, ink = paper_rgb[part, :, None, None], ink_rgb[part, :, None, None]
            image = paper + (ink - paper) * intensity[:, None]
        else:
            image = intensity[:, None]
        pixels[part] = numpy.rint(image * 255)
    return pixels, params["label"]


def cache_path(n: int, size: int, color: bool, seed: int, split: str) -> str:
    """The cache file of one set of arguments (the rendering version is part of the name)."""
    name = f"digits-v{VERSION}-{split}-n{n}-{size}px-{'rgb' if color else 'gray'}-seed{seed}.safetensors"
    return os.path.join(cache_dir(), name)


def _read_cache(path: str, shape: tuple) -> tuple[numpy.ndarray, numpy.ndarray] | None:
    """The cached pixels and labels, or None when the file is absent or does not hold what is expected."""
    if not os.path.exists(path):
        return None
    try:
        content = serialization.load(path)
    except serialization.CheckpointError as e:
        warnings.warn(f"digits: ignoring an unreadable cache file ({e}); rendering again", stacklevel=4)
        return None
    ok = (isinstance(content, dict) and content.get("version") == VERSION
          and isinstance(content.get("x"), numpy.ndarray) and content["x"].dtype == numpy.uint8
          and content["x"].shape == shape and isinstance(content.get("y"), numpy.ndarray)
          and content["y"].dtype == numpy.int64 and content["y"].shape == shape[:1])
    if not ok:
        warnings.warn(f"digits: cache file {path} does not hold the expected arrays; rendering again", stacklevel=4)
        return None
    return content["x"], content["y"]


def load_digits(n: int = 20000, size: int = 28, color: bool = False, seed: int = 0, split: str = "train",
                ) -> Dataset:
    """The digits data set, read from the cache when it holds these arguments, else rendered and cached.

    split 'test' draws from a stream independent of 'train' for the same seed (see synthetic_rng).
    """
    if size not in SIZES:
        raise ValueError(f"digits: size must be one of {SIZES}, got {size!r}")
    path = cache_path(n, size, color, seed, split)
    cached = _read_cache(path, (n, 3 if color else 1, size, size))
    if cached is None:
        pixels, labels = render_digits(n, size, color, synthetic_rng(seed, split))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            serialization.save({"format": "minigan-digits", "version": VERSION, "x": pixels, "y": labels}, path)
        except OSError as e:
            warnings.warn(f"digits: could not write the cache file {path} ({e}); continuing without it",
                          stacklevel=3)
    else:
        pixels, labels = cached
    return Dataset("digits", images_from_uint8(pixels), labels, num_classes=10)
