// The binary cross-entropy of logits, compiled through CuPy by kernels/bce_with_logits/cuda.py:
// l = (1 - t) softplus(x) + t softplus(-x), softplus(x) = max(x, 0) + log1p(exp(-|x|));
// gx = g ((1 - t) sigmoid(x) - t sigmoid(-x)), both sigmoids from one exp(-|x|), each accurate in its tail.
// The mean or the sum is taken by one block in double, each thread a fixed stride of the elements, then a tree in
// shared memory: a fixed order, so every run gives the same bits (the losses of a GAN step have a batch of
// elements: one block suffices).

constexpr int BLOCK = 256;  // threads per block (the launch must use this many)

template <typename T>
__device__ inline T softplus(T x)
{
    return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
}

template <typename T>
__device__ inline T slope(T x, T t)
{
    // (1 - t) sigmoid(x) - t sigmoid(-x)
    const T e = exp(-fabs(x));
    const T big = T(1) / (T(1) + e), small = e / (T(1) + e);
    return x >= T(0) ? (T(1) - t) * big - t * small : (T(1) - t) * small - t * big;
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bce_forward(const T* __restrict__ x, const T* __restrict__ t, int total,
                                                     T* __restrict__ loss)
{
    // loss[i] for every element
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    loss[i] = (T(1) - t[i]) * softplus(x[i]) + t[i] * softplus(-x[i]);
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bce_forward_reduce(const T* __restrict__ x, const T* __restrict__ t,
                                                            int total, int mean, T* __restrict__ out)
{
    // out[0] = the sum of the losses (over total for the mean), by one block
    __shared__ double partial[BLOCK];
    double s = 0;
    for (int i = threadIdx.x; i < total; i += BLOCK) s += double((T(1) - t[i]) * softplus(x[i]) + t[i] * softplus(-x[i]));
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int half = BLOCK / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = T(mean ? partial[0] / total : partial[0]);
}

template <typename T>
__global__ void __launch_bounds__(BLOCK) bce_backward(const T* __restrict__ x, const T* __restrict__ t,
                                                     const T* __restrict__ gy, int total, int scalar, int mean,
                                                     T* __restrict__ gx)
{
    // gx[i] = g slope(x[i], t[i]), g = gy[0] (over total for the mean) or gy[i]
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    const T g = scalar ? (mean ? gy[0] / T(total) : gy[0]) : gy[i];
    gx[i] = g * slope(x[i], t[i]);
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&bce_forward<float>;
    (void)&bce_forward<double>;
    (void)&bce_forward_reduce<float>;
    (void)&bce_forward_reduce<double>;
    (void)&bce_backward<float>;
    (void)&bce_backward<double>;
}
#endif
