"""conv2d on the GPU: the CUDA C kernels of conv2d.cu, which compute every product themselves (no library GEMM).

    forward          an implicit GEMM (M = output channels, N = output pixels, K = C kh kw; the filter packed as a
                     K x M matrix first where the product is large), or a direct kernel where the layer has 1 to 3
                     input or output channels
    backward_filter  an implicit GEMM (M = gy's channels, N = C kh kw, K = N P Q), split along K over blocks where
                     the output has few tiles and K is long, the partial products then added in a fixed order
    input gradient   the transposed convolution's forward (kernels/conv_transpose2d/cuda.py), which runs on the same
                     kernels (convolve with output_padding), split into its stride phases
The kernels read x itself: forward and backward_filter accept the columns of im2col (col=) and ignore them, so a
result from given columns has the same bits as one without. im2col and col2im still make and sum the columns,
col[(c, u, v), n, i, j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w], a (C kh kw, N, P, Q) array.

Which kernel computes a convolution depends on its shape alone (`paths` lists those that can, best first), as does
the number of K-splits of a weight gradient, and no kernel uses atomics: results are bit-reproducible. Inputs may be
non-contiguous: they are copied to contiguous arrays first. See the contract in __init__.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import cuda
from . import output_size

COLUMNS = False  # the implicit GEMMs read x in place: columns given are ignored

if TYPE_CHECKING:
    from cupy import ndarray

_SOURCE = cuda.Source("conv2d", ("im2col", "col2im", "pack_filter", "conv_gemm_128", "conv_gemm_64", "wgrad_gemm_128",
                                 "wgrad_gemm_64", "sum_partials", "thin_in", "thin_out"))

SMS = 132  # streaming multiprocessors of the GPU the block counts are chosen for (H100, H200)
BLOCKS = 2 * SMS  # enough blocks to fill it: two per multiprocessor
GEMM_TILES = {"gemm128": (128, 8), "gemm64": (64, 16)}  # block tile (M and N) and K-slice of each GEMM kernel
MIN_SPLIT = 256  # the fewest output pixels of a weight gradient's K-split
LARGE = 2**26  # multiply-adds from which a GEMM is worth a second launch (packing the filter, adding K-splits)
THIN = 3  # the most channels (in or out) of a layer that direct kernels compute
THIN_IN_TILE, THIN_IN_M, THIN_IN_K, THIN_IN_PATCH = (8, 16), 32, 75, 2048  # as in conv2d.cu
THIN_OUT_W = 2048  # as in conv2d.cu


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def im2col(x: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple) -> ndarray:
    """col[(c, u, v), n, i, j] = x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w] as a (C kh kw, N, P, Q) array."""
    import cupy

    x = cupy.ascontiguousarray(x)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh, ow = output_size(h, kh, sh, ph, dh), output_size(w, kw, sw, pw, dw)
    col = cupy.empty((c * kh * kw, n, oh, ow), dtype=x.dtype)
    _SOURCE.launch("im2col", x.dtype, col.size, x, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, col)
    return col


def col2im(col: ndarray, size: tuple, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
           bias: ndarray | None = None) -> ndarray:
    """The adjoint of im2col, plus an optional per-channel bias: x (N, C, H, W) from col (C kh kw, N, P, Q), each
    pixel the sum of the column entries that im2col would have copied from it."""
    import cupy

    col = cupy.ascontiguousarray(col)
    (kh, kw), (h, w), (sh, sw), (ph, pw), (dh, dw) = kernel_size, size, stride, padding, dilation
    c, n, oh, ow = col.shape[0] // (kh * kw), col.shape[1], col.shape[2], col.shape[3]
    x = cupy.empty((n, c, h, w), dtype=col.dtype)
    b = x if bias is None else cupy.ascontiguousarray(bias, dtype=col.dtype)  # x stands in for an absent bias, unread
    _SOURCE.launch("col2im", col.dtype, x.size, col, b, bias is not None, n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw,
                   oh, ow, x)
    return x


def forward(x: ndarray, W: ndarray, b: ndarray | None, stride: tuple, padding: tuple, dilation: tuple,
            col: ndarray | None = None) -> ndarray:
    """y = conv2d(x, W) + b, computed from x (col, the columns of im2col, is accepted and not read)."""
    return convolve(x, W, b, stride, padding, dilation)


def backward_filter(x: ndarray, gy: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
                    col: ndarray | None = None) -> ndarray:
    """gW[k, c, u, v] = sum over (n, i, j) of gy[n, k, i, j] x_pad[n, c, i*s_h + u*d_h, j*s_w + v*d_w], over gy's
    output size (where the full convolution of x is larger, its extra rows are not used); col is not read."""
    return weight_gradient(x, gy, kernel_size, stride, padding, dilation)


# ---- convolutions and transposed convolutions ----

def _geometry(x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple, dilation: tuple,
              output_padding: tuple | None) -> tuple:
    """(n, c, h, w, m, out_h, out_w, kh, kw): a convolution (output_padding None, W (M, C, kh, kw)) or a transposed
    convolution (W (C, M, kh, kw))."""
    from ..conv_transpose2d import output_size as transposed_output_size

    n, c, h, w = x_shape
    kh, kw = w_shape[2:]
    if output_padding is None:
        m = w_shape[0]
        oh, ow = output_size(h, kh, stride[0], padding[0], dilation[0]), output_size(w, kw, stride[1], padding[1],
                                                                                      dilation[1])
    else:
        m = w_shape[1]
        oh, ow = (transposed_output_size(size, k, s, p, o, d) for size, k, s, p, o, d in
                  zip((h, w), (kh, kw), stride, padding, output_padding, dilation))
    return n, c, h, w, m, oh, ow, kh, kw


def _phase_pixels(n: int, oh: int, ow: int, stride: tuple, transposed: bool) -> tuple[int, int]:
    """(the number of phases, the most output pixels of one phase)."""
    if not transposed:
        return 1, n * oh * ow
    return stride[0] * stride[1], n * _cdiv(oh, stride[0]) * _cdiv(ow, stride[1])


def _thin_in_patch(stride: tuple, dilation: tuple, kh: int, kw: int) -> int:
    rows, cols = THIN_IN_TILE
    return ((rows - 1) * stride[0] + (kh - 1) * dilation[0] + 1) * ((cols - 1) * stride[1] + (kw - 1) * dilation[1] + 1)


def paths(x_shape: tuple, w_shape: tuple, stride: tuple, padding: tuple, dilation: tuple,
          output_padding: tuple | None = None) -> tuple[str, ...]:
    """The kernels that can compute this convolution (a transposed one with output_padding given), the one that
    convolve takes first: 'thin_out' (1 to 3 output channels), 'thin_in' (a convolution of 1 to 3 input channels
    with a small enough filter and input patch), then the implicit GEMMs 'gemm128' and 'gemm64', the 128 x 128
    tile first where it gives enough blocks."""
    n, c, _, _, m, oh, ow, kh, kw = _geometry(x_shape, w_shape, stride, padding, dilation, output_padding)
    transposed = output_padding is not None
    found = []
    if m <= THIN and m * kh * kw <= THIN_OUT_W:
        found.append("thin_out")
    if (not transposed and c <= THIN and c * kh * kw <= THIN_IN_K and n <= 65535
            and c * _thin_in_patch(stride, dilation, kh, kw) <= THIN_IN_PATCH):
        found.append("thin_in")
    phases, pixels = _phase_pixels(n, oh, ow, stride, transposed)
    big = m > 64 and _cdiv(m, 128) * phases * _cdiv(pixels, 128) >= SMS
    found += ["gemm128", "gemm64"] if big else ["gemm64", "gemm128"]
    return tuple(found)


def convolve(x: ndarray, W: ndarray, b: ndarray | None, stride: tuple, padding: tuple, dilation: tuple,
             output_padding: tuple | None = None, path: str | None = None, pack: bool | None = None) -> ndarray:
    """y = conv2d(x, W) + b, or with output_padding given y = conv_transpose2d(x, W) + b, on the kernel `path`
    (one of paths(...); by default the first). On a GEMM path the filter is first packed as a K x M matrix when
    `pack` (by default: from LARGE multiply-adds), else read where it is."""
    import cupy

    transposed = output_padding is not None
    usable = paths(x.shape, W.shape, stride, padding, dilation, output_padding)
    path = path or usable[0]
    if path not in usable:
        raise ValueError(f"conv2d: the {path!r} kernel cannot compute this convolution (it can: {usable})")
    n, c, h, w, m, oh, ow, kh, kw = _geometry(x.shape, W.shape, stride, padding, dilation, output_padding)
    x, W = cupy.ascontiguousarray(x), cupy.ascontiguousarray(W, dtype=x.dtype)
    y = cupy.empty((n, m, oh, ow), dtype=x.dtype)
    if y.size == 0:
        return y
    has_b = b is not None
    b = cupy.ascontiguousarray(b, dtype=x.dtype) if has_b else y  # y stands in for an absent bias, unread
    geometry = (n, c, h, w, m, oh, ow, kh, kw, *stride, *padding, *dilation)
    phases, pixels = _phase_pixels(n, oh, ow, stride, transposed)
    taps = kh * kw
    wsm, wsc = (taps, m * taps) if transposed else (c * taps, taps)  # W's strides of an output and an input channel
    if path == "thin_out":
        groups = 1
        while groups < 8 and 2 * groups <= c and _cdiv(pixels, 256 // groups) * phases < BLOCKS:
            groups *= 2
        chunk = min(c, THIN_OUT_W // (m * taps))
        grid = (_cdiv(pixels, 256 // groups), 1, phases)
        _SOURCE.launch("thin_out", x.dtype, 0, x, W, b, has_b, *geometry, transposed, wsm, wsc, groups, chunk, y,
                       grid=grid)
    elif path == "thin_in":
        tiles_x = _cdiv(ow, THIN_IN_TILE[1])
        grid = (tiles_x * _cdiv(oh, THIN_IN_TILE[0]), _cdiv(m, THIN_IN_M), n)
        _SOURCE.launch("thin_in", x.dtype, 0, x, W, b, has_b, *geometry, tiles_x, y, grid=grid)
    else:
        if pack is None:
            pack = m * c * taps * n * (h * w if transposed else oh * ow) >= LARGE
        if pack:  # the filter as the GEMM's A operand, K = (tap, c) rows of M
            wa = cupy.empty((taps * c, m), dtype=x.dtype)
            _SOURCE.launch("pack_filter", x.dtype, wa.size, W, m, c, taps, wsm, wsc, wa)
            strides = (c * m, m, 1)
        else:
            wa, strides = W, (1, wsc, wsm)
        tile = GEMM_TILES[path][0]
        grid = (_cdiv(pixels, tile), _cdiv(m, tile), phases)
        _SOURCE.launch(f"conv_gemm_{tile}", x.dtype, 0, x, wa, b, has_b, *geometry, transposed, *strides, y,
                       grid=grid)
    return y


# ---- the weight gradient ----

def weight_plan(x_shape: tuple, gy_shape: tuple, kernel_size: tuple) -> tuple[str, int]:
    """(the GEMM kernel, the number of K-splits) of a weight gradient: the 128 x 128 tile where both M (gy's
    channels) and N (C kh kw) exceed 64; from LARGE multiply-adds, as many K-splits as bring the blocks to BLOCKS,
    each of at least MIN_SPLIT output pixels."""
    m, ncol = gy_shape[1], x_shape[1] * kernel_size[0] * kernel_size[1]
    path = "gemm128" if m > 64 and ncol > 64 else "gemm64"
    tile = GEMM_TILES[path][0]
    pixels = gy_shape[0] * gy_shape[2] * gy_shape[3]
    if m * ncol * pixels < LARGE:
        return path, 1
    splits = max(1, min(BLOCKS // (_cdiv(m, tile) * _cdiv(ncol, tile)), pixels // MIN_SPLIT))
    return path, splits


def weight_gradient(x: ndarray, gy: ndarray, kernel_size: tuple, stride: tuple, padding: tuple, dilation: tuple,
                    path: str | None = None, splits: int | None = None) -> ndarray:
    """backward_filter on the GEMM kernel `path` with `splits` K-splits (by default, those of weight_plan): each
    split's blocks write their partial products, which a second kernel adds in the order of the splits."""
    import cupy

    x, gy = cupy.ascontiguousarray(x), cupy.ascontiguousarray(gy, dtype=x.dtype)
    n, c, h, w = x.shape
    m, oh, ow = gy.shape[1:]
    kh, kw = kernel_size
    gW = cupy.empty((m, c, kh, kw), dtype=x.dtype)
    planned = weight_plan(x.shape, gy.shape, kernel_size)
    path, splits = path or planned[0], splits or planned[1]
    tile, k_slice = GEMM_TILES[path]
    slices = _cdiv(n * oh * ow, k_slice)
    if gW.size == 0:
        return gW
    if slices == 0:
        gW.fill(0)
        return gW
    per = _cdiv(slices, min(splits, slices))
    splits = _cdiv(slices, per)  # none empty
    ncol = c * kh * kw
    out = gW if splits == 1 else cupy.empty((splits, m, ncol), dtype=x.dtype)
    grid = (_cdiv(ncol, tile), _cdiv(m, tile), splits)
    _SOURCE.launch(f"wgrad_gemm_{tile}", x.dtype, 0, x, gy, n, c, h, w, m, oh, ow, kh, kw, *stride, *padding,
                   *dilation, per, out, grid=grid)
    if splits > 1:
        _SOURCE.launch("sum_partials", x.dtype, gW.size, out, splits, gW.size, gW)
    return gW
