// SGD over a list of parameters in one launch, compiled through CuPy by kernels/sgd/cuda.py.
//
// The table holds three addresses per parameter (p, g, momentum buffer), the work is cut in chunks of one
// parameter, one block per chunk (kernels/cuda.py, ParameterLists). Every operation is the reference's, in its
// order and dtype, each rounded on its own, so the results equal the reference's bits.

#include "../rounded.cuh"

template <typename T>
__global__ void __launch_bounds__(256) sgd_update(const unsigned long long* __restrict__ table,
                                                  const int* __restrict__ sizes, const int* __restrict__ chunk_param,
                                                  const int* __restrict__ chunk_start, int chunk,
                                                  const int* __restrict__ first, T lr, T momentum, T damp, T decay,
                                                  int dampening, int nesterov)
{
    // d = p decay + g; with momentum, b = d at a parameter's first step, else b = b momentum + d (times damp =
    // 1 - dampening when dampening), and d = b momentum + d (Nesterov) or b; then p = p - d lr
    const int k = chunk_param[blockIdx.x];
    T* p = reinterpret_cast<T*>(table[3 * k]);
    const T* g = reinterpret_cast<const T*>(table[3 * k + 1]);
    T* b = reinterpret_cast<T*>(table[3 * k + 2]);
    const int end = min(chunk_start[blockIdx.x] + chunk, sizes[k]);
    for (int i = chunk_start[blockIdx.x] + threadIdx.x; i < end; i += blockDim.x) {
        T d = g[i];
        if (decay != T(0)) d = add(mul(p[i], decay), d);
        if (momentum != T(0)) {
            const T bi = first[k] ? d : add(mul(b[i], momentum), dampening ? mul(d, damp) : d);
            b[i] = bi;
            d = nesterov ? add(mul(bi, momentum), d) : bi;
        }
        p[i] = sub(p[i], mul(d, lr));
    }
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&sgd_update<float>;
    (void)&sgd_update<double>;
}
#endif
