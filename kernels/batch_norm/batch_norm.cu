// Batch normalisation, compiled through CuPy by kernels/batch_norm/cuda.py.
//
// x is viewed as (N, C, S), S the product of the spatial sizes (1 for an (N, C) input); channel ci holds the
// M = N S elements x[ni, ci, si], numbered m = ni S + si. Per channel: mean, biased variance var,
// invstd = 1 / sqrt(var + eps), and z = x scale + shift with scale = gamma invstd, shift = beta - mean scale.
// With act set, the output is the leaky ReLU of z with slope `slope` (0: ReLU), in the same pass; the backward
// pass recomputes z from x exactly as the forward pass does (affine() and normalise()), so both gate the same
// elements. The products are rounded before the additions (never contracted into an fma), so that an x equal to
// the mean gives z = beta - mean scale + mean scale, exactly 0 when beta is 0, as the reference computes it.
//
// Reductions run in double, in a fixed order, without atomics, so that every run gives the same bits: a (C, B)
// grid of blocks, block (ci, blk) taking the elements [blk chunk, (blk + 1) chunk) of channel ci; each thread a
// fixed stride of them, then a tree over the block's threads in shared memory; then one thread per channel
// combines the B partial results in the order blk = 0, 1, ... . When one block holds a whole channel (B = 1, the
// usual case in a GAN's deeper layers), bn_train and bn_backward do each pass in one launch instead of three: the
// block reduces its channel, then normalises (or differentiates) it, with the arithmetic of the three kernels.
// Inside a channel the elements are walked as (ni, si) pairs stepped without a division per element (Walk). The statistics use Welford's update per thread and
// Chan's formula to merge (count, mean, sum of squared deviations) triples, which stays accurate when the mean is
// large against the spread.

constexpr int BLOCK = 256;  // threads per block of the reduction kernels (the launch must use this many)

#include "../rounded.cuh"  // mul: a product rounded on its own (never part of an fma); root: sqrt, rounded

template <typename T>
__device__ inline void affine(T gamma, T beta, T mean, T invstd, T& scale, T& shift)
{
    // scale = gamma invstd, shift = beta - mean scale, rounded the same way in every kernel
    scale = mul(gamma, invstd);
    shift = beta - mul(mean, scale);
}

template <typename T>
__device__ inline T normalise(T x, T scale, T shift)
{
    // z = x scale + shift, the product rounded first
    return mul(x, scale) + shift;
}

template <typename T>
__device__ inline T activate(T z, int act, T slope)
{
    // leaky ReLU as the reference writes it: z where z > 0, else z slope (so NaN takes the slope side)
    return (act && !(z > T(0))) ? z * slope : z;
}

__device__ inline void merge(double& count, double& mean, double& m2, double count_b, double mean_b, double m2_b)
{
    // Chan et al.: the (count, mean, M2) of the union of two disjoint sets from those of each set
    if (count_b == 0) return;
    if (count == 0) {
        count = count_b;
        mean = mean_b;
        m2 = m2_b;
        return;
    }
    const double total = count + count_b;
    const double delta = mean_b - mean;
    const double f = count_b / total;
    mean += delta * f;
    m2 += m2_b + delta * delta * count * f;
    count = total;
}

struct Walk
{
    // The elements k = k0, k0 + BLOCK, ... of one channel's M = N S elements, as (ni, si) with k = ni S + si: one
    // division to start, none per element
    int ni, si, step_n, step_s, s;
    __device__ Walk(int k0, int s_) : ni(k0 / s_), si(k0 % s_), step_n(BLOCK / s_), step_s(BLOCK % s_), s(s_) {}
    __device__ int index(int c, int ci) const { return (ni * c + ci) * s + si; }
    __device__ void next()
    {
        ni += step_n;
        si += step_s;
        if (si >= s) {
            si -= s;
            ni += 1;
        }
    }
};

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_moments(const T* __restrict__ x, int c, int s, int m, int chunk,
                                                   double* __restrict__ partial)
{
    // partial[ci, blk] = (count, mean, M2) of the elements [blk chunk, (blk + 1) chunk) of channel ci, where
    // ci = blockIdx.x, blk = blockIdx.y, and M2 is the sum of squared deviations from the mean.
    __shared__ double s_count[BLOCK], s_mean[BLOCK], s_m2[BLOCK];
    const int ci = blockIdx.x, blk = blockIdx.y, tid = threadIdx.x;
    const int begin = blk * chunk;
    const int end = min(begin + chunk, m);
    double count = 0, mean = 0, m2 = 0;
    Walk w(begin + tid, s);
    for (int k = begin + tid; k < end; k += BLOCK, w.next()) {
        const double v = x[w.index(c, ci)];
        count += 1;
        const double d = v - mean;
        mean += d / count;
        m2 += d * (v - mean);
    }
    s_count[tid] = count;
    s_mean[tid] = mean;
    s_m2[tid] = m2;
    __syncthreads();
    for (int width = BLOCK / 2; width > 0; width /= 2) {
        if (tid < width)
            merge(s_count[tid], s_mean[tid], s_m2[tid], s_count[tid + width], s_mean[tid + width], s_m2[tid + width]);
        __syncthreads();
    }
    if (tid == 0) {
        double* p = partial + 3 * (ci * gridDim.y + blk);
        p[0] = s_count[0];
        p[1] = s_mean[0];
        p[2] = s_m2[0];
    }
}

template <typename T>
__global__ void bn_stats(const double* __restrict__ partial, const T* __restrict__ gamma,
                         const T* __restrict__ beta, int c, int blocks, double eps, T* __restrict__ mean,
                         T* __restrict__ var, T* __restrict__ invstd, T* __restrict__ scale, T* __restrict__ shift,
                         T* running_mean, T* running_var, int update_mean, int update_var, T keep, T momentum,
                         T unbias)
{
    // Per channel, the `blocks` partial results of bn_moments merged in order: mean, biased variance M2 / M,
    // invstd = 1 / sqrt(var + eps) (in double, then rounded to T), and the affine map of the normalisation. With
    // update_mean / update_var, the running statistics move: running = keep running + momentum batch (keep =
    // 1 - momentum), the variance times unbias = M / (M - 1), each product rounded before the sum, as the
    // reference rounds them.
    const int ci = blockIdx.x * blockDim.x + threadIdx.x;
    if (ci >= c) return;
    const double* p = partial + 3 * ci * blocks;
    double count = p[0], mu = p[1], m2 = p[2];
    for (int k = 1; k < blocks; ++k) merge(count, mu, m2, p[3 * k], p[3 * k + 1], p[3 * k + 2]);
    const double v = m2 / count;
    const T mean_t = T(mu);
    const T invstd_t = T(1.0 / sqrt(v + eps));
    mean[ci] = mean_t;
    var[ci] = T(v);
    invstd[ci] = invstd_t;
    affine(gamma[ci], beta[ci], mean_t, invstd_t, scale[ci], shift[ci]);
    if (update_mean) running_mean[ci] = mul(keep, running_mean[ci]) + mul(momentum, mean_t);
    if (update_var) running_var[ci] = mul(keep, running_var[ci]) + mul(mul(momentum, T(v)), unbias);
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_apply(const T* __restrict__ x, const T* __restrict__ scale,
                                                 const T* __restrict__ shift, int c, int s, int m, int chunk, int act,
                                                 T slope, T* __restrict__ y)
{
    // y = act(x scale[ci] + shift[ci]) over the elements [blk chunk, (blk + 1) chunk) of channel ci, as bn_moments
    // takes them
    const int ci = blockIdx.x, begin = blockIdx.y * chunk, end = min(begin + chunk, m);
    const T a = scale[ci], b = shift[ci];
    Walk w(begin + threadIdx.x, s);
    for (int k = begin + threadIdx.x; k < end; k += BLOCK, w.next()) {
        const int index = w.index(c, ci);
        y[index] = activate(normalise(x[index], a, b), act, slope);
    }
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_eval(const T* __restrict__ x, const T* __restrict__ running_mean,
                                                const T* __restrict__ running_var, const T* __restrict__ gamma,
                                                const T* __restrict__ beta, T eps, int c, int s, int m, int chunk,
                                                int act, T slope, T* __restrict__ y)
{
    // y = act(x scale + shift) with scale = gamma / sqrt(running_var + eps) and shift = beta - running_mean scale,
    // computed in T as the reference computes them, over the chunk blockIdx.y of channel blockIdx.x (one launch)
    const int ci = blockIdx.x, begin = blockIdx.y * chunk, end = min(begin + chunk, m);
    const T scale = gamma[ci] / root(running_var[ci] + eps);
    const T shift = beta[ci] - mul(running_mean[ci], scale);
    Walk w(begin + threadIdx.x, s);
    for (int k = begin + threadIdx.x; k < end; k += BLOCK, w.next()) {
        const int index = w.index(c, ci);
        y[index] = activate(normalise(x[index], scale, shift), act, slope);
    }
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_grad_sums(const T* __restrict__ x, const T* __restrict__ gy,
                                                     const T* __restrict__ gamma, const T* __restrict__ beta,
                                                     const T* __restrict__ mean, const T* __restrict__ invstd, int c,
                                                     int s, int m, int chunk, int act, T slope,
                                                     double* __restrict__ partial)
{
    // partial[ci, blk] = (sum gz, sum gz x_hat) over the elements [blk chunk, (blk + 1) chunk) of channel ci, with
    // x_hat = (x - mean) invstd and gz = gy gated as the forward gated z (gy slope where z <= 0, with act)
    __shared__ double s_gz[BLOCK], s_gzx[BLOCK];
    const int ci = blockIdx.x, blk = blockIdx.y, tid = threadIdx.x;
    const T mu = mean[ci], r = invstd[ci];
    T scale, shift;
    affine(gamma[ci], beta[ci], mu, r, scale, shift);
    const int begin = blk * chunk;
    const int end = min(begin + chunk, m);
    double sum_gz = 0, sum_gzx = 0;
    Walk w(begin + tid, s);
    for (int k = begin + tid; k < end; k += BLOCK, w.next()) {
        const int index = w.index(c, ci);
        const T v = x[index];
        T g = gy[index];
        if (act && !(normalise(v, scale, shift) > T(0))) g *= slope;
        const T x_hat = (v - mu) * r;
        sum_gz += double(g);
        sum_gzx += double(g) * double(x_hat);
    }
    s_gz[tid] = sum_gz;
    s_gzx[tid] = sum_gzx;
    __syncthreads();
    for (int width = BLOCK / 2; width > 0; width /= 2) {
        if (tid < width) {
            s_gz[tid] += s_gz[tid + width];
            s_gzx[tid] += s_gzx[tid + width];
        }
        __syncthreads();
    }
    if (tid == 0) {
        double* p = partial + 2 * (ci * gridDim.y + blk);
        p[0] = s_gz[0];
        p[1] = s_gzx[0];
    }
}

template <typename T>
__global__ void bn_grad_params(const double* __restrict__ partial, int c, int blocks, int m, T* __restrict__ ggamma,
                               T* __restrict__ gbeta, T* __restrict__ mean_gz, T* __restrict__ mean_gzx)
{
    // Per channel, the `blocks` partial sums of bn_grad_sums added in order: gbeta = sum gz,
    // ggamma = sum gz x_hat, and their means over the M elements, for bn_grad_input
    const int ci = blockIdx.x * blockDim.x + threadIdx.x;
    if (ci >= c) return;
    const double* p = partial + 2 * ci * blocks;
    double sum_gz = 0, sum_gzx = 0;
    for (int k = 0; k < blocks; ++k) {
        sum_gz += p[2 * k];
        sum_gzx += p[2 * k + 1];
    }
    gbeta[ci] = T(sum_gz);
    ggamma[ci] = T(sum_gzx);
    mean_gz[ci] = T(sum_gz / m);
    mean_gzx[ci] = T(sum_gzx / m);
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_grad_input(const T* __restrict__ x, const T* __restrict__ gy,
                                                      const T* __restrict__ gamma, const T* __restrict__ beta,
                                                      const T* __restrict__ mean, const T* __restrict__ invstd,
                                                      const T* __restrict__ mean_gz, const T* __restrict__ mean_gzx,
                                                      int c, int s, int m, int chunk, int act, T slope,
                                                      T* __restrict__ gx)
{
    // gx = gamma invstd (gz - mean(gz) - x_hat mean(gz x_hat)), gz gated as in bn_grad_sums, over the chunk
    // blockIdx.y of channel blockIdx.x
    const int ci = blockIdx.x, begin = blockIdx.y * chunk, end = min(begin + chunk, m);
    const T mu = mean[ci], r = invstd[ci], m_gz = mean_gz[ci], m_gzx = mean_gzx[ci];
    T scale, shift;
    affine(gamma[ci], beta[ci], mu, r, scale, shift);
    Walk w(begin + threadIdx.x, s);
    for (int k = begin + threadIdx.x; k < end; k += BLOCK, w.next()) {
        const int index = w.index(c, ci);
        const T v = x[index];
        T g = gy[index];
        if (act && !(normalise(v, scale, shift) > T(0))) g *= slope;
        const T x_hat = (v - mu) * r;
        gx[index] = scale * (g - m_gz - x_hat * m_gzx);
    }
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_train(const T* __restrict__ x, const T* __restrict__ gamma,
                                                 const T* __restrict__ beta, int c, int s, int m, double eps,
                                                 T* running_mean, T* running_var, int update_mean, int update_var,
                                                 T keep, T momentum, T unbias, int act, T slope, T* __restrict__ y,
                                                 T* __restrict__ mean, T* __restrict__ var, T* __restrict__ invstd)
{
    // bn_moments, bn_stats and bn_apply for channel ci = blockIdx.x, whole in one block
    __shared__ double s_count[BLOCK], s_mean[BLOCK], s_m2[BLOCK];
    __shared__ T s_scale[1], s_shift[1];
    const int ci = blockIdx.x, tid = threadIdx.x;
    double count = 0, mu = 0, m2 = 0;
    Walk w(tid, s);
    for (int k = tid; k < m; k += BLOCK, w.next()) {
        const double v = x[w.index(c, ci)];
        count += 1;
        const double d = v - mu;
        mu += d / count;
        m2 += d * (v - mu);
    }
    s_count[tid] = count;
    s_mean[tid] = mu;
    s_m2[tid] = m2;
    __syncthreads();
    for (int width = BLOCK / 2; width > 0; width /= 2) {
        if (tid < width)
            merge(s_count[tid], s_mean[tid], s_m2[tid], s_count[tid + width], s_mean[tid + width], s_m2[tid + width]);
        __syncthreads();
    }
    if (tid == 0) {
        const double v = s_m2[0] / s_count[0];
        const T mean_t = T(s_mean[0]);
        const T invstd_t = T(1.0 / sqrt(v + eps));
        mean[ci] = mean_t;
        var[ci] = T(v);
        invstd[ci] = invstd_t;
        affine(gamma[ci], beta[ci], mean_t, invstd_t, s_scale[0], s_shift[0]);
        if (update_mean) running_mean[ci] = mul(keep, running_mean[ci]) + mul(momentum, mean_t);
        if (update_var) running_var[ci] = mul(keep, running_var[ci]) + mul(mul(momentum, T(v)), unbias);
    }
    __syncthreads();
    const T scale = s_scale[0], shift = s_shift[0];
    Walk a(tid, s);
    for (int k = tid; k < m; k += BLOCK, a.next()) {
        const int index = a.index(c, ci);
        y[index] = activate(normalise(x[index], scale, shift), act, slope);
    }
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bn_backward(const T* __restrict__ x, const T* __restrict__ gy,
                                                    const T* __restrict__ gamma, const T* __restrict__ beta,
                                                    const T* __restrict__ mean, const T* __restrict__ invstd, int c,
                                                    int s, int m, int act, T slope, T* __restrict__ ggamma,
                                                    T* __restrict__ gbeta, T* __restrict__ gx)
{
    // bn_grad_sums, bn_grad_params and bn_grad_input for channel ci = blockIdx.x, whole in one block
    __shared__ double s_gz[BLOCK], s_gzx[BLOCK];
    __shared__ T s_means[2];
    const int ci = blockIdx.x, tid = threadIdx.x;
    const T mu = mean[ci], r = invstd[ci];
    T scale, shift;
    affine(gamma[ci], beta[ci], mu, r, scale, shift);
    double sum_gz = 0, sum_gzx = 0;
    Walk w(tid, s);
    for (int k = tid; k < m; k += BLOCK, w.next()) {
        const int index = w.index(c, ci);
        const T v = x[index];
        T g = gy[index];
        if (act && !(normalise(v, scale, shift) > T(0))) g *= slope;
        const T x_hat = (v - mu) * r;
        sum_gz += double(g);
        sum_gzx += double(g) * double(x_hat);
    }
    s_gz[tid] = sum_gz;
    s_gzx[tid] = sum_gzx;
    __syncthreads();
    for (int width = BLOCK / 2; width > 0; width /= 2) {
        if (tid < width) {
            s_gz[tid] += s_gz[tid + width];
            s_gzx[tid] += s_gzx[tid + width];
        }
        __syncthreads();
    }
    if (tid == 0) {
        gbeta[ci] = T(s_gz[0]);
        ggamma[ci] = T(s_gzx[0]);
        s_means[0] = T(s_gz[0] / m);
        s_means[1] = T(s_gzx[0] / m);
    }
    __syncthreads();
    const T mean_gz = s_means[0], mean_gzx = s_means[1];
    Walk a(tid, s);
    for (int k = tid; k < m; k += BLOCK, a.next()) {
        const int index = a.index(c, ci);
        const T v = x[index];
        T g = gy[index];
        if (act && !(normalise(v, scale, shift) > T(0))) g *= slope;
        const T x_hat = (v - mu) * r;
        gx[index] = scale * (g - mean_gz - x_hat * mean_gzx);
    }
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&bn_moments<float>;
    (void)&bn_moments<double>;
    (void)&bn_stats<float>;
    (void)&bn_stats<double>;
    (void)&bn_apply<float>;
    (void)&bn_apply<double>;
    (void)&bn_eval<float>;
    (void)&bn_eval<double>;
    (void)&bn_grad_sums<float>;
    (void)&bn_grad_sums<double>;
    (void)&bn_grad_params<float>;
    (void)&bn_grad_params<double>;
    (void)&bn_grad_input<float>;
    (void)&bn_grad_input<double>;
    (void)&bn_train<float>;
    (void)&bn_train<double>;
    (void)&bn_backward<float>;
    (void)&bn_backward<double>;
}
#endif
