// conv2d's layout kernels, compiled through CuPy by kernels/conv2d/cuda.py: im2col, its adjoint col2im (a gather,
// plus a bias) and the exchange of two leading axes that brings a matrix product's result to NCHW order.
//
// Each kernel is a template over T = float or double and runs one thread per output element, which computes that
// element alone, in a fixed order: no atomics, so a launch gives the same bits every run. Every index fits an int
// (the loader refuses arrays of 2^31 elements or more).
//
// Names: x (N, C, H, W) an image, col the columns of im2col laid out as (C kh kw, N, P, Q), so that a convolution is
// the matrix product W (K, C kh kw) @ col (C kh kw, N P Q); sy, sx the strides, ph, pw the paddings, dy, dx the
// dilations, out_h, out_w = P, Q the size of the convolution's output.

template <typename T>
__global__ void __launch_bounds__(256) im2col(const T* __restrict__ x, int n, int c, int h, int w, int kh, int kw,
                                              int sy, int sx, int ph, int pw, int dy, int dx, int out_h, int out_w,
                                              T* __restrict__ col)
{
    // col[(ci, ky, kx), ni, oy, ox] = x[ni, ci, oy sy + ky dy - ph, ox sx + kx dx - pw], and 0 in the padding.
    // Consecutive threads write consecutive ox: the writes, the larger side, are coalesced.
    const int total = c * kh * kw * n * out_h * out_w;
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int t = index;
    const int ox = t % out_w;
    t /= out_w;
    const int oy = t % out_h;
    t /= out_h;
    const int ni = t % n;
    t /= n;
    const int kx = t % kw;
    t /= kw;
    const int ky = t % kh;
    const int ci = t / kh;
    const int in_y = oy * sy + ky * dy - ph;
    const int in_x = ox * sx + kx * dx - pw;
    const bool inside = 0 <= in_y && in_y < h && 0 <= in_x && in_x < w;
    col[index] = inside ? x[((ni * c + ci) * h + in_y) * w + in_x] : T(0);
}

template <typename T>
__global__ void __launch_bounds__(256) col2im(const T* __restrict__ col, const T* __restrict__ b, int has_b, int n,
                                              int c, int h, int w, int kh, int kw, int sy, int sx, int ph, int pw,
                                              int dy, int dx, int out_h, int out_w, T* __restrict__ x)
{
    // x[ni, ci, in_y, in_x] = sum of col[(ci, ky, kx), ni, oy, ox] over the taps with oy sy + ky dy - ph = in_y and
    // ox sx + kx dx - pw = in_x, 0 <= oy < out_h, 0 <= ox < out_w (the adjoint of im2col), then + b[ci].
    // A gather: the thread of a pixel visits the taps in the order (ky, kx) and adds those that reach it, the order
    // in which the reference adds them, so no two threads write one element and no atomics are needed.
    const int total = n * c * h * w;
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int t = index;
    const int in_x = t % w;
    t /= w;
    const int in_y = t % h;
    t /= h;
    const int ci = t % c;
    const int ni = t / c;
    T sum = T(0);
    for (int ky = 0; ky < kh; ++ky) {
        const int ty = in_y + ph - ky * dy;  // = oy sy; it only decreases with ky
        if (ty < 0) break;
        if (ty % sy != 0) continue;
        const int oy = ty / sy;
        if (oy >= out_h) continue;
        for (int kx = 0; kx < kw; ++kx) {
            const int tx = in_x + pw - kx * dx;
            if (tx < 0) break;
            if (tx % sx != 0) continue;
            const int ox = tx / sx;
            if (ox >= out_w) continue;
            sum += col[((((ci * kh + ky) * kw + kx) * n + ni) * out_h + oy) * out_w + ox];
        }
    }
    x[index] = has_b ? sum + b[ci] : sum;
}

template <typename T>
__global__ void __launch_bounds__(256) transpose01(const T* __restrict__ x, const T* __restrict__ b, int has_b,
                                                   int n0, int n1, int n2, T* __restrict__ y)
{
    // y[i1, i0, i2] = x[i0, i1, i2] (+ b[i0]) for x of shape (n0, n1, n2): the two leading axes exchanged, as from
    // the product's (K, N, P Q) to the image's (N, K, P Q) with the bias added in the same pass.
    const int total = n0 * n1 * n2;
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    int t = index;
    const int i2 = t % n2;
    t /= n2;
    const int i0 = t % n0;
    const int i1 = t / n0;
    const T v = x[(i0 * n1 + i1) * n2 + i2];
    y[index] = has_b ? v + b[i0] : v;
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&im2col<float>;
    (void)&im2col<double>;
    (void)&col2im<float>;
    (void)&col2im<double>;
    (void)&transpose01<float>;
    (void)&transpose01<double>;
}
#endif
