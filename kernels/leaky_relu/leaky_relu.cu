// Leaky ReLU, compiled through CuPy by kernels/leaky_relu/cuda.py: elementwise, one element per thread, over
// arrays of any shape seen flat. y = x where x > 0, else x slope; gx = gy where x > 0, else gy slope. Written as the
// reference writes them, so that x = 0, -0 and NaN take the slope side and the results equal the reference's bits
// (in float32, up to subnormal numbers, which CuPy's -ftz=true flushes to zero).

template <typename T>
__global__ void __launch_bounds__(256) leaky_relu_forward(const T* __restrict__ x, int total, T slope,
                                                          T* __restrict__ y)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const T v = x[index];
    y[index] = v > T(0) ? v : v * slope;
}

template <typename T>
__global__ void __launch_bounds__(256) leaky_relu_backward(const T* __restrict__ x, const T* __restrict__ gy,
                                                           int total, T slope, T* __restrict__ gx)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= total) return;
    const T g = gy[index];
    gx[index] = x[index] > T(0) ? g : g * slope;
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&leaky_relu_forward<float>;
    (void)&leaky_relu_forward<double>;
    (void)&leaky_relu_backward<float>;
    (void)&leaky_relu_backward<double>;
}
#endif
