// conv2d's and conv_transpose2d's CUDA C kernels, compiled through CuPy by kernels/conv2d/cuda.py: implicit-GEMM
// convolutions with no library matrix product, direct kernels for layers with few channels, and the im2col / col2im
// layout kernels of the contract.
//
// Names: x (N, C, H, W) the input image, y (N, M, OH, OW) the output, sy, sx the strides, ph, pw the paddings,
// dy, dx the dilations, kh, kw the kernel's size, taps = kh kw. Every kernel is a template over T = float or double;
// every index fits an int (the loader refuses arrays of 2^31 elements or more). No kernel uses atomics and every sum
// runs in an order fixed by the shapes alone, so a launch gives the same bits on every run.
//
// Convolutions as products. A convolution (conv2d's forward) and a transposed convolution (conv_transpose2d's
// forward, which is also conv2d's input gradient) are both
//     y[n, m, oy, ox] = b[m] + sum over c, (u, v) of Wt[m, c, u, v] x[n, c, iy, ix]
// over the taps (u, v) that connect output pixel (oy, ox) with an input pixel (iy, ix) inside the image: a GEMM of
// M = output channels by N = output pixels (results land in NCHW order) over K = channels x taps. A transposed
// convolution of stride s is split by output phase: the output rows oy with one residue r = (oy + ph) mod sy are
// reached by exactly the kernel rows u with u dy = r (mod sy), an arithmetic progression of rows; along them the
// input row moves by a constant step. So each of the sy sx phases is a dense convolution over its own taps: no
// product with an inserted zero, no columns, any dilation (struct Axis). The weight gradient
//     gW[m, (c, u, v)] = sum over (n, oy, ox) of gy[n, m, oy, ox] x_pad[n, c, oy sy + u dy, ox sx + v dx]
// is a GEMM of M = gy's channels by C taps over K = N OH OW output pixels; where its output has few tiles and K is
// long it is split along K over blocks (split-K): each block writes its partial tile to a workspace, and a second
// kernel adds the partials in a fixed order.
//
// The GEMM kernels (conv_gemm_*, wgrad_gemm_*): 256 threads as 16 x 16; a block tile of 128 x 128 (8 x 8 results
// per thread, K-slices of 8) or 64 x 64 (4 x 4, K-slices of 16); the A and B slices go through registers into two
// stages of shared memory, the global loads of slice k + 1 issued before the products of slice k, one barrier per
// slice. Each thread loads the same K rows of A and B, and walks (channel, tap row, tap column) of its rows
// incrementally: no division in the main loop; the padding is a predicate on each load. conv_gemm reads the filter
// through strides: packed first (pack_filter) into a K x M matrix whose A slices load coalesced, where the product is
// large, or as it is, where one launch more would cost more than the scattered loads.
//
// Direct kernels for layers with few channels: thin_in (a convolution of 1 to 3 input channels: the filter and the
// input patch of the block's 8 x 16 output pixels in shared memory, the input read once) and thin_out (1 to 3 output
// channels, a convolution or any phase of a transposed convolution: the filter in shared memory in channel chunks,
// each thread one output pixel, the channels split over up to 8 thread groups whose sums are added in a fixed order).

#ifdef __CUDACC__
#define UNROLL _Pragma("unroll")
#else
#define UNROLL
#endif
#ifndef __align__  // CUDA's compilers define it; a host compiler (the emulator's) takes the GNU attribute
#define __align__(n) __attribute__((aligned(n)))
#endif

// ---- layout kernels (im2col's columns are (C kh kw, N, P, Q)) ----

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
    // ox sx + kx dx - pw = in_x, 0 <= oy < out_h, 0 <= ox < out_w (the adjoint of im2col), then + b[ci]: a gather,
    // each thread adding the taps that reach its pixel in the order (ky, kx).
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

// ---- the geometry of one output phase along one axis ----

struct Axis {
    int out0, out_step, count;  // the phase's output rows: out0 + a out_step for 0 <= a < count
    int in0, in_step;           // the input row of its first tap for output row a: in0 + a in_step
    int taps, tap_in;           // the taps that reach the phase; the input row moves by tap_in from one to the next
    int u0, u_step;             // the kernel row of tap t: u0 + t u_step
};

__device__ __forceinline__ Axis axis_of(int transposed, int phase, int out_size, int stride, int pad, int dil, int k)
{
    // A convolution has one phase: iy = oy stride - pad + u dil. A transposed convolution (oy = iy stride - pad +
    // u dil) has `stride` phases; phase r holds the output rows with (oy + pad) mod stride = r, which the kernel rows
    // u with u dil = r (mod stride) reach: u = u0 + t (stride / g), g = gcd(stride, dil), at input row
    // (oy + pad - u dil) / stride, which moves by -dil / g from one tap to the next.
    Axis a;
    if (!transposed) {
        a.out0 = 0, a.out_step = 1, a.count = out_size;
        a.in0 = -pad, a.in_step = stride;
        a.taps = k, a.tap_in = dil;
        a.u0 = 0, a.u_step = 1;
        return a;
    }
    int g = stride, e = dil;
    while (e != 0) {
        const int t = g % e;
        g = e;
        e = t;
    }
    const int step = stride / g;
    a.out_step = stride;
    a.out0 = ((phase - pad) % stride + stride) % stride;
    a.count = a.out0 < out_size ? (out_size - a.out0 + stride - 1) / stride : 0;
    a.in_step = 1;
    a.u_step = step;
    a.tap_in = -(dil / g);
    a.u0 = 0;
    a.taps = 0;
    a.in0 = 0;
    if (phase % g == 0) {
        int u = 0;
        while ((u * dil - phase) % stride != 0) ++u;  // fewer than stride / g steps
        a.u0 = u;
        a.taps = u < k ? (k - u + step - 1) / step : 0;
        a.in0 = (a.out0 + pad - phase) / stride - (u * dil - phase) / stride;  // both divisions are exact
    }
    return a;
}

// ---- the register-tile product shared by the GEMM kernels ----

// Rows of a thread's tile: (i / 4) 64 + ty 4 + i % 4, columns likewise with tx: four consecutive elements of a
// shared row per read (one vector load where the compiler can), the halves 64 apart.
__device__ __forceinline__ int tile_row(int i, int t) { return (i / 4) * 64 + t * 4 + i % 4; }

template <int TM, int TN, int BK, int LDA, int LDB, typename T, typename SA, typename SB>
__device__ __forceinline__ void tile_product(T (&acc)[TM][TN], SA& As, SB& Bs, int a0, int b0, int ty, int tx)
{
    UNROLL
    for (int kk = 0; kk < BK; ++kk) {
        T a[TM], b[TN];
        UNROLL
        for (int i = 0; i < TM; ++i) a[i] = As[a0 + kk * LDA + tile_row(i, ty)];
        UNROLL
        for (int j = 0; j < TN; ++j) b[j] = Bs[b0 + kk * LDB + tile_row(j, tx)];
        UNROLL
        for (int i = 0; i < TM; ++i) {
            UNROLL
            for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
        }
    }
}

// ---- packing the filter as the GEMM's A operand ----

template <typename T>
__global__ void __launch_bounds__(256) pack_filter(const T* __restrict__ wt, int m, int c, int taps, int wsm,
                                                   int wsc, T* __restrict__ wp)
{
    // wp[(tap, ci), mi] = wt[mi wsm + ci wsc + tap]: a (taps C) x M matrix, the channel fastest along K, the output
    // channel along a row (coalesced loads of the A slices). wsm, wsc = C taps, taps for a convolution's (M, C, kh,
    // kw) filter; taps, M taps for a transposed convolution's (C, M, kh, kw).
    const int total = taps * c * m;
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const int mi = index % m;
    const int r = index / m;
    const int ci = r % c;
    const int tap = r / c;
    wp[index] = wt[mi * wsm + ci * wsc + tap];
}

// ---- implicit-GEMM convolution: y = Wt * x + b, one phase per blockIdx.z ----

// The K index of a load row, k = (th taps_x + tw) C + c, walked one row or one slice at a time. The filter's
// element of output channel mi, channel c and tap (u, v) = (u0 + th us, v0 + tw vs) is wa[(u kw + v) ts + c cs +
// mi ms]: the packed filter (ts, cs, ms = C M, M, 1) or the filter as it is (1, taps, C taps for a convolution's;
// 1, M taps, taps for a transposed convolution's).
struct KWalk {
    int k, c, tw, th, dy, dx, arow;  // arow = (u kw + v) ts + c cs
};

struct KGeometry {
    int channels, taps_x, tap_in_y, tap_in_x, arow_c, arow_tw, arow_th;
};

__device__ __forceinline__ void next_tap(KWalk& s, const KGeometry& g)
{
    ++s.tw;
    s.dx += g.tap_in_x;
    s.arow += g.arow_tw;
    if (s.tw == g.taps_x) {
        s.tw = 0;
        s.dx = 0;
        s.arow -= g.taps_x * g.arow_tw;
        ++s.th;
        s.dy += g.tap_in_y;
        s.arow += g.arow_th;
    }
}

__device__ __forceinline__ void next_row(KWalk& s, const KGeometry& g)
{
    ++s.k;
    ++s.c;
    s.arow += g.arow_c;
    if (s.c == g.channels) {
        s.c = 0;
        s.arow -= g.channels * g.arow_c;
        next_tap(s, g);
    }
}

template <int BK>
__device__ __forceinline__ void next_slice(KWalk& s, const KGeometry& g)
{
    s.k += BK;
    s.c += BK;
    s.arow += BK * g.arow_c;
    while (s.c >= g.channels) {  // once per slice when C >= BK
        s.c -= g.channels;
        s.arow -= g.channels * g.arow_c;
        next_tap(s, g);
    }
}

template <typename T, int TM, int TN, int BK>
__device__ __forceinline__ void conv_gemm(const T* __restrict__ x, const T* __restrict__ wa, const T* __restrict__ b,
                                          int has_b, int n, int c, int h, int w, int m, int out_h, int out_w, int kh,
                                          int kw, int sy, int sx, int ph, int pw, int dy, int dx, int transposed,
                                          int ts, int cs, int ms, T* __restrict__ y)
{
    constexpr int BM = 16 * TM, BN = 16 * TN, LDA = BM + 4, LDB = BN + 4;
    constexpr int RPT = BK * BN / 256;  // K rows per thread in each load
    static_assert(BM == BN, "A and B loads share the K rows of a thread");
    __shared__ __align__(16) T As[2 * BK * LDA];
    __shared__ __align__(16) T Bs[2 * BK * LDB];

    const int phases_x = transposed ? sx : 1;
    const Axis ay = axis_of(transposed, blockIdx.z / phases_x, out_h, sy, ph, dy, kh);
    const Axis ax = axis_of(transposed, blockIdx.z % phases_x, out_w, sx, pw, dx, kw);
    const int npix = n * ay.count * ax.count;
    const int pix0 = blockIdx.x * BN;
    if (pix0 >= npix) return;  // the whole block: this phase has fewer pixels
    const int m0 = blockIdx.y * BM;
    const int K = c * ay.taps * ax.taps;
    const int nk = (K + BK - 1) / BK;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

    // this thread's loads: A column (output channel) m0 + ln, B column (pixel) pix0 + ln, K rows lk .. lk + RPT - 1
    const int ln = tid % BN, lk = (tid / BN) * RPT;
    const bool a_ok = m0 + ln < m;
    const int pix = pix0 + ln;
    const bool p_ok = pix < npix;
    int pn = 0, pa = 0, pb = 0;
    if (p_ok) {
        pb = pix % ax.count;
        const int t = pix / ax.count;
        pa = t % ay.count;
        pn = t / ay.count;
    }
    const int hw = h * w;
    const T* __restrict__ xn = x + pn * c * hw;
    const int iy0 = ay.in0 + pa * ay.in_step, ix0 = ax.in0 + pb * ax.in_step;
    const KGeometry g = {c, ax.taps, ay.tap_in, ax.tap_in, cs, ax.u_step * ts, ay.u_step * kw * ts};
    KWalk s = {0, 0, 0, 0, 0, 0, 0};
    if (K > 0) {
        s.k = lk;
        s.c = lk % c;
        const int tap = lk / c;
        s.tw = tap % ax.taps;
        s.th = tap / ax.taps;
        s.dy = s.th * ay.tap_in;
        s.dx = s.tw * ax.tap_in;
        s.arow = ((ay.u0 + s.th * ay.u_step) * kw + ax.u0 + s.tw * ax.u_step) * ts + s.c * cs;
    }

    T ra[RPT], rb[RPT];
    auto load = [&](const KWalk& from) {
        if (from.c + RPT <= c) {  // the usual case (C >= RPT): the thread's rows are channels of one tap
            const int iy = iy0 + from.dy, ix = ix0 + from.dx;
            const bool inside = p_ok && (unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)w;
            const int a = from.arow + (m0 + ln) * ms, bx = from.c * hw + iy * w + ix;
            UNROLL
            for (int j = 0; j < RPT; ++j) {
                const bool k_ok = from.k + j < K;
                ra[j] = k_ok && a_ok ? wa[a + j * cs] : T(0);
                rb[j] = k_ok && inside ? xn[bx + j * hw] : T(0);
            }
            return;
        }
        KWalk q = from;  // rows across taps: walk them one by one
        UNROLL
        for (int j = 0; j < RPT; ++j) {
            const bool k_ok = q.k < K;
            const int iy = iy0 + q.dy, ix = ix0 + q.dx;
            ra[j] = k_ok && a_ok ? wa[q.arow + (m0 + ln) * ms] : T(0);
            rb[j] = k_ok && p_ok && (unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)w
                        ? xn[q.c * hw + iy * w + ix] : T(0);
            if (j + 1 < RPT) next_row(q, g);
        }
    };
    auto store = [&](int stage) {
        UNROLL
        for (int j = 0; j < RPT; ++j) {
            As[stage * BK * LDA + (lk + j) * LDA + ln] = ra[j];
            Bs[stage * BK * LDB + (lk + j) * LDB + ln] = rb[j];
        }
    };

    T acc[TM][TN];
    UNROLL
    for (int i = 0; i < TM; ++i) {
        UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    }
    if (nk > 0) {
        load(s);
        store(0);
    }
    __syncthreads();
    for (int kt = 0; kt < nk; ++kt) {
        const int stage = kt & 1;
        const bool more = kt + 1 < nk;
        if (more) {
            next_slice<BK>(s, g);
            load(s);  // in flight during the products below
        }
        tile_product<TM, TN, BK, LDA, LDB>(acc, As, Bs, stage * BK * LDA, stage * BK * LDB, ty, tx);
        if (more) store(stage ^ 1);  // the other stage, last read before the previous barrier
        __syncthreads();
    }

    // epilogue: y[n, m, oy, ox] = acc + b[m]; the offsets of this thread's columns, then its rows
    const int ohw = out_h * out_w;
    int yoff[TN];
    UNROLL
    for (int j0 = 0; j0 < TN; j0 += 4) {
        int col = pix0 + tile_row(j0, tx);
        int bb = col % ax.count;
        int t = col / ax.count;
        int aa = t % ay.count;
        int nn = t / ay.count;
        UNROLL
        for (int j = j0; j < j0 + 4; ++j) {
            yoff[j] = col < npix ? nn * m * ohw + (ay.out0 + aa * ay.out_step) * out_w + ax.out0 + bb * ax.out_step
                                 : -1;
            ++col;
            if (++bb == ax.count) {
                bb = 0;
                if (++aa == ay.count) {
                    aa = 0;
                    ++nn;
                }
            }
        }
    }
    UNROLL
    for (int i = 0; i < TM; ++i) {
        const int mi = m0 + tile_row(i, ty);
        if (mi >= m) continue;
        const T bias = has_b ? b[mi] : T(0);
        UNROLL
        for (int j = 0; j < TN; ++j)
            if (yoff[j] >= 0) y[yoff[j] + mi * ohw] = has_b ? acc[i][j] + bias : acc[i][j];
    }
}

#define CONV_GEMM_PARAMETERS                                                                                       \
    const T *__restrict__ x, const T *__restrict__ wa, const T *__restrict__ b, int has_b, int n, int c, int h,     \
        int w, int m, int out_h, int out_w, int kh, int kw, int sy, int sx, int ph, int pw, int dy, int dx,          \
        int transposed, int ts, int cs, int ms, T *__restrict__ y
#define CONV_GEMM_ARGUMENTS                                                                                        \
    x, wa, b, has_b, n, c, h, w, m, out_h, out_w, kh, kw, sy, sx, ph, pw, dy, dx, transposed, ts, cs, ms, y

// Two register-tile sizes, as two kernels (the loader instantiates name<T>); float runs two blocks per SM.
template <typename T>
__global__ void __launch_bounds__(256, sizeof(T) == 4 ? 2 : 1) conv_gemm_128(CONV_GEMM_PARAMETERS)
{
    conv_gemm<T, 8, 8, 8>(CONV_GEMM_ARGUMENTS);
}

template <typename T>
__global__ void __launch_bounds__(256, 2) conv_gemm_64(CONV_GEMM_PARAMETERS)
{
    conv_gemm<T, 4, 4, 16>(CONV_GEMM_ARGUMENTS);
}

// ---- the weight gradient: split-K implicit GEMM, then a fixed-order sum of the partials ----

template <typename T, int TM, int TN, int BK>
__device__ __forceinline__ void wgrad_gemm(const T* __restrict__ x, const T* __restrict__ gy, int n, int c, int h,
                                           int w, int m, int out_h, int out_w, int kh, int kw, int sy, int sx, int ph,
                                           int pw, int dy, int dx, int slices, T* __restrict__ out)
{
    // out[split, mi, (ci, u, v)] = sum over the pixels (ni, oy, ox) of split's K-slices of gy[ni, mi, oy, ox]
    // x_pad[ni, ci, oy sy + u dy, ox sx + v dx]; split = blockIdx.z, `slices` K-slices of BK pixels each.
    constexpr int BM = 16 * TM, BN = 16 * TN, LDA = BM + 4, LDB = BN + 4;
    constexpr int APT = BM * BK / 256, BPT = BN * BK / 256;  // loads per thread
    constexpr int STEP = 256 / BK;  // rows between one thread's loads
    __shared__ __align__(16) T As[2 * BK * LDA];
    __shared__ __align__(16) T Bs[2 * BK * LDB];

    const int ncol = c * kh * kw, pq = out_h * out_w, K = n * pq, hw = h * w;
    const int total_slices = (K + BK - 1) / BK;
    const int first = blockIdx.z * slices;
    const int nk = min(slices, total_slices - first);
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;

    // this thread's loads: pixel k = (first + kt) BK + lk of each slice; A rows and B columns lr + STEP j
    const int lk = tid % BK, lr = tid / BK;
    int k = first * BK + lk;
    int q = k % out_w, p = (k / out_w) % out_h, ni = k / pq;
    int coff[BPT], cdy[BPT], cdx[BPT];
    UNROLL
    for (int j = 0; j < BPT; ++j) {
        const int col = n0 + lr + STEP * j;
        const int v = col % kw, u = (col / kw) % kh, ci = col / (kh * kw);
        cdy[j] = u * dy;
        cdx[j] = v * dx;
        coff[j] = col < ncol ? ci * hw + cdy[j] * w + cdx[j] : -1;
    }

    T ra[APT], rb[BPT];
    auto load = [&]() {
        const bool k_ok = k < K;
        const int goff = ni * m * pq + p * out_w + q;
        const int iy = p * sy - ph, ix = q * sx - pw;
        const int xoff = ni * c * hw + iy * w + ix;
        UNROLL
        for (int j = 0; j < APT; ++j) {
            const int mi = m0 + lr + STEP * j;
            ra[j] = k_ok && mi < m ? gy[goff + mi * pq] : T(0);
        }
        UNROLL
        for (int j = 0; j < BPT; ++j) {
            const bool inside = (unsigned)(iy + cdy[j]) < (unsigned)h && (unsigned)(ix + cdx[j]) < (unsigned)w;
            rb[j] = k_ok && coff[j] >= 0 && inside ? x[xoff + coff[j]] : T(0);
        }
    };
    auto store = [&](int stage) {
        UNROLL
        for (int j = 0; j < APT; ++j) As[stage * BK * LDA + lk * LDA + lr + STEP * j] = ra[j];
        UNROLL
        for (int j = 0; j < BPT; ++j) Bs[stage * BK * LDB + lk * LDB + lr + STEP * j] = rb[j];
    };
    auto next = [&]() {
        k += BK;
        q += BK;
        while (q >= out_w) {
            q -= out_w;
            if (++p == out_h) {
                p = 0;
                ++ni;
            }
        }
    };

    T acc[TM][TN];
    UNROLL
    for (int i = 0; i < TM; ++i) {
        UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    }
    load();
    store(0);
    __syncthreads();
    for (int kt = 0; kt < nk; ++kt) {
        const int stage = kt & 1;
        const bool more = kt + 1 < nk;
        if (more) {
            next();
            load();
        }
        tile_product<TM, TN, BK, LDA, LDB>(acc, As, Bs, stage * BK * LDA, stage * BK * LDB, ty, tx);
        if (more) store(stage ^ 1);
        __syncthreads();
    }

    T* __restrict__ part = out + blockIdx.z * m * ncol;
    UNROLL
    for (int i = 0; i < TM; ++i) {
        const int mi = m0 + tile_row(i, ty);
        if (mi >= m) continue;
        UNROLL
        for (int j = 0; j < TN; ++j) {
            const int col = n0 + tile_row(j, tx);
            if (col < ncol) part[mi * ncol + col] = acc[i][j];
        }
    }
}

#define WGRAD_PARAMETERS                                                                                           \
    const T *__restrict__ x, const T *__restrict__ gy, int n, int c, int h, int w, int m, int out_h, int out_w,      \
        int kh, int kw, int sy, int sx, int ph, int pw, int dy, int dx, int slices, T *__restrict__ out
#define WGRAD_ARGUMENTS x, gy, n, c, h, w, m, out_h, out_w, kh, kw, sy, sx, ph, pw, dy, dx, slices, out

template <typename T>
__global__ void __launch_bounds__(256, sizeof(T) == 4 ? 2 : 1) wgrad_gemm_128(WGRAD_PARAMETERS)
{
    wgrad_gemm<T, 8, 8, 8>(WGRAD_ARGUMENTS);
}

template <typename T>
__global__ void __launch_bounds__(256, 2) wgrad_gemm_64(WGRAD_PARAMETERS)
{
    wgrad_gemm<T, 4, 4, 16>(WGRAD_ARGUMENTS);
}

template <typename T>
__global__ void __launch_bounds__(256) sum_partials(const T* __restrict__ part, int splits, int count,
                                                    T* __restrict__ out)
{
    // out[i] = part[0, i] + part[1, i] + ... + part[splits - 1, i], in that order
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= count) return;
    T sum = part[index];
    for (int s = 1; s < splits; ++s) sum += part[s * count + index];
    out[index] = sum;
}

// ---- direct kernels for layers with few channels ----

constexpr int THIN_IN_ROWS = 8, THIN_IN_COLS = 16, THIN_IN_M = 32;  // a block's output tile: 8 x 16 pixels x 32
constexpr int THIN_IN_K = 75, THIN_IN_PATCH = 2048;                  // limits: C kh kw, and C x the input patch

template <typename T>
__global__ void __launch_bounds__(256) thin_in(const T* __restrict__ x, const T* __restrict__ wt,
                                               const T* __restrict__ b, int has_b, int n, int c, int h, int w, int m,
                                               int out_h, int out_w, int kh, int kw, int sy, int sx, int ph, int pw,
                                               int dy, int dx, int tiles_x, T* __restrict__ y)
{
    // A convolution with C kh kw <= THIN_IN_K: block (tile, m-chunk, image) computes an 8 x 16 tile of output pixels
    // for 32 output channels. The filter chunk, Ws[k 32 + mi] with k = (ci, u, v), and the input patch the tile
    // reads, Xs[(ci, row, col)], go to shared memory once (the host keeps C x the patch <= THIN_IN_PATCH); each
    // thread then sums 4 output channels (warp w: 4 w .. 4 w + 3, a broadcast filter read) x 4 pixels (rows
    // 2 j + lane / 16, column lane % 16).
    __shared__ T Ws[THIN_IN_K * THIN_IN_M];
    __shared__ T Xs[THIN_IN_PATCH];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int tile_y = blockIdx.x / tiles_x, tile_x = blockIdx.x - tile_y * tiles_x;
    const int m0 = blockIdx.y * THIN_IN_M, ni = blockIdx.z;
    const int K = c * kh * kw;
    const int patch_h = (THIN_IN_ROWS - 1) * sy + (kh - 1) * dy + 1;
    const int patch_w = (THIN_IN_COLS - 1) * sx + (kw - 1) * dx + 1;
    const int iy0 = tile_y * THIN_IN_ROWS * sy - ph, ix0 = tile_x * THIN_IN_COLS * sx - pw;

    for (int e = tid; e < K * THIN_IN_M; e += 256) {
        const int mi = e % THIN_IN_M, k = e / THIN_IN_M;
        Ws[e] = m0 + mi < m ? wt[(m0 + mi) * K + k] : T(0);
    }
    for (int row = warp; row < c * patch_h; row += 8) {
        const int ci = row / patch_h, r = row - ci * patch_h;
        const int iy = iy0 + r;
        const T* __restrict__ src = x + ((ni * c + ci) * h + iy) * w;
        for (int col = lane; col < patch_w; col += 32) {
            const int ix = ix0 + col;
            Xs[row * patch_w + col] = (unsigned)iy < (unsigned)h && (unsigned)ix < (unsigned)w ? src[ix] : T(0);
        }
    }
    __syncthreads();

    const int pcol = lane % 16, prow = lane / 16;
    T acc[4][4];
    UNROLL
    for (int i = 0; i < 4; ++i) {
        UNROLL
        for (int j = 0; j < 4; ++j) acc[i][j] = T(0);
    }
    const int base = prow * sy * patch_w + pcol * sx;  // pixel (prow + 2 j, pcol): base + 2 j sy patch_w
    const int row_step = 2 * sy * patch_w;
    int k = 0;
    for (int ci = 0; ci < c; ++ci) {
        for (int u = 0; u < kh; ++u) {
            int off = (ci * patch_h + u * dy) * patch_w;
            for (int v = 0; v < kw; ++v, ++k, off += dx) {
                T wv[4], xv[4];
                UNROLL
                for (int i = 0; i < 4; ++i) wv[i] = Ws[k * THIN_IN_M + warp * 4 + i];
                UNROLL
                for (int j = 0; j < 4; ++j) xv[j] = Xs[base + j * row_step + off];
                UNROLL
                for (int i = 0; i < 4; ++i) {
                    UNROLL
                    for (int j = 0; j < 4; ++j) acc[i][j] += wv[i] * xv[j];
                }
            }
        }
    }

    const int ox = tile_x * THIN_IN_COLS + pcol;
    if (ox >= out_w) return;
    UNROLL
    for (int i = 0; i < 4; ++i) {
        const int mi = m0 + warp * 4 + i;
        if (mi >= m) continue;
        const T bias = has_b ? b[mi] : T(0);
        UNROLL
        for (int j = 0; j < 4; ++j) {
            const int oy = tile_y * THIN_IN_ROWS + prow + 2 * j;
            if (oy < out_h) y[((ni * m + mi) * out_h + oy) * out_w + ox] = has_b ? acc[i][j] + bias : acc[i][j];
        }
    }
}

constexpr int THIN_OUT_W = 2048;  // filter elements per channel chunk in shared memory

template <typename T>
__global__ void __launch_bounds__(256, 1) thin_out(const T* __restrict__ x, const T* __restrict__ wt,
                                                const T* __restrict__ b, int has_b, int n, int c, int h, int w, int m,
                                                int out_h, int out_w, int kh, int kw, int sy, int sx, int ph, int pw,
                                                int dy, int dx, int transposed, int wsm, int wsc, int groups,
                                                int chunk, T* __restrict__ y)
{
    // m <= 3 output channels, a convolution or one phase (blockIdx.z) of a transposed convolution. The block's
    // 256 threads are `groups` groups (1, 2, 4 or 8) of 256 / groups output pixels; group gi sums the channels
    // gi, gi + groups, ... of each chunk of `chunk` channels, whose filter, Ws[(cc m + mi) taps + tap], is in shared
    // memory (the host keeps chunk m taps <= THIN_OUT_W). wsm, wsc: the filter's strides of an output and an input
    // channel. The groups' sums are then added in the order of the groups.
    __shared__ T Ws[THIN_OUT_W];
    __shared__ T red[3 * 256];
    const int phases_x = transposed ? sx : 1;
    const Axis ay = axis_of(transposed, blockIdx.z / phases_x, out_h, sy, ph, dy, kh);
    const Axis ax = axis_of(transposed, blockIdx.z % phases_x, out_w, sx, pw, dx, kw);
    const int npix = n * ay.count * ax.count;
    const int per_group = 256 / groups;
    const int pix0 = blockIdx.x * per_group;
    if (pix0 >= npix) return;  // the whole block
    const int tid = threadIdx.x, pl = tid % per_group, gi = tid / per_group;
    const int pix = pix0 + pl;
    const bool p_ok = pix < npix;
    int pn = 0, pa = 0, pb = 0;
    if (p_ok) {
        pb = pix % ax.count;
        const int t = pix / ax.count;
        pa = t % ay.count;
        pn = t / ay.count;
    }
    const int hw = h * w, taps = kh * kw;
    const int iy0 = ay.in0 + pa * ay.in_step, ix0 = ax.in0 + pb * ax.in_step;
    T acc[3] = {T(0), T(0), T(0)};

    for (int c0 = 0; c0 < c; c0 += chunk) {
        const int cn = min(chunk, c - c0);
        if (c0 > 0) __syncthreads();  // the previous chunk is read
        for (int r = tid; r < cn * m; r += 256) {
            const int cc = r / m, mi = r - cc * m;
            const T* __restrict__ src = wt + mi * wsm + (c0 + cc) * wsc;
            for (int tap = 0; tap < taps; ++tap) Ws[r * taps + tap] = src[tap];
        }
        __syncthreads();
        if (!p_ok) continue;
        for (int cc = gi; cc < cn; cc += groups) {
            const T* __restrict__ xc = x + (pn * c + c0 + cc) * hw;
            int iy = iy0, u = ay.u0;
            for (int th = 0; th < ay.taps; ++th, iy += ay.tap_in, u += ay.u_step) {
                if ((unsigned)iy >= (unsigned)h) continue;
                int ix = ix0, v = ax.u0;
                for (int tw = 0; tw < ax.taps; ++tw, ix += ax.tap_in, v += ax.u_step) {
                    if ((unsigned)ix >= (unsigned)w) continue;
                    const T xv = xc[iy * w + ix];
                    const int wo = cc * m * taps + u * kw + v;
                    acc[0] += Ws[wo] * xv;
                    if (m > 1) acc[1] += Ws[wo + taps] * xv;
                    if (m > 2) acc[2] += Ws[wo + 2 * taps] * xv;
                }
            }
        }
    }

    if (groups > 1) {  // the same branch for every thread of the block
        UNROLL
        for (int mi = 0; mi < 3; ++mi)
            if (mi < m) red[mi * 256 + tid] = acc[mi];
        __syncthreads();
        if (gi != 0) return;
        UNROLL
        for (int mi = 0; mi < 3; ++mi) {
            if (mi >= m) continue;
            T sum = red[mi * 256 + pl];
            for (int gg = 1; gg < groups; ++gg) sum += red[mi * 256 + gg * per_group + pl];
            acc[mi] = sum;
        }
    }
    if (!p_ok) return;
    const int oy = ay.out0 + pa * ay.out_step, ox = ax.out0 + pb * ax.out_step;
    UNROLL
    for (int mi = 0; mi < 3; ++mi)
        if (mi < m) y[((pn * m + mi) * out_h + oy) * out_w + ox] = has_b ? acc[mi] + b[mi] : acc[mi];
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&im2col<float>;
    (void)&im2col<double>;
    (void)&col2im<float>;
    (void)&col2im<double>;
    (void)&pack_filter<float>;
    (void)&pack_filter<double>;
    (void)&conv_gemm_128<float>;
    (void)&conv_gemm_128<double>;
    (void)&conv_gemm_64<float>;
    (void)&conv_gemm_64<double>;
    (void)&wgrad_gemm_128<float>;
    (void)&wgrad_gemm_128<double>;
    (void)&wgrad_gemm_64<float>;
    (void)&wgrad_gemm_64<double>;
    (void)&sum_partials<float>;
    (void)&sum_partials<double>;
    (void)&thin_in<float>;
    (void)&thin_in<double>;
    (void)&thin_out<float>;
    (void)&thin_out<double>;
}
#endif
