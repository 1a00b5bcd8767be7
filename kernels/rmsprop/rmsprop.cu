// RMSprop over a list of parameters in one launch, compiled through CuPy by kernels/rmsprop/cuda.py.
//
// The table holds five addresses per parameter (p, g, square_avg, grad_avg, momentum buffer), the work is cut in
// chunks of one parameter, one block per chunk (kernels/cuda.py, ParameterLists). Every operation is the
// reference's, in its order and dtype, each rounded on its own, so the results equal the reference's bits.

#include "../rounded.cuh"

template <typename T>
__global__ void __launch_bounds__(256) rmsprop_update(const unsigned long long* __restrict__ table,
                                                      const int* __restrict__ sizes,
                                                      const int* __restrict__ chunk_param,
                                                      const int* __restrict__ chunk_start, int chunk, T lr, T alpha,
                                                      T one_minus_alpha, T eps, T decay, T momentum, int centered,
                                                      int small_w, T w, T one_minus_w)
{
    // g = p decay + g; v = v alpha + (g (1 - alpha)) g; centered: a = lerp(a, g, w), v' = v - a a; with momentum
    // b = b momentum + g / (sqrt(v') + eps), p = p - b lr; else p = p + (g (-lr)) / (sqrt(v') + eps)
    const int k = chunk_param[blockIdx.x];
    T* p = reinterpret_cast<T*>(table[5 * k]);
    const T* g = reinterpret_cast<const T*>(table[5 * k + 1]);
    T* v = reinterpret_cast<T*>(table[5 * k + 2]);
    T* a = reinterpret_cast<T*>(table[5 * k + 3]);
    T* b = reinterpret_cast<T*>(table[5 * k + 4]);
    const int end = min(chunk_start[blockIdx.x] + chunk, sizes[k]);
    for (int i = chunk_start[blockIdx.x] + threadIdx.x; i < end; i += blockDim.x) {
        T gi = g[i];
        if (decay != T(0)) gi = add(mul(p[i], decay), gi);
        const T vi = add(mul(v[i], alpha), mul(mul(gi, one_minus_alpha), gi));
        v[i] = vi;
        T avg;
        if (centered) {
            const T ai = small_w ? add(a[i], mul(sub(gi, a[i]), w)) : sub(gi, mul(sub(gi, a[i]), one_minus_w));
            a[i] = ai;
            avg = root(sub(vi, mul(ai, ai)));
        } else {
            avg = root(vi);
        }
        avg = add(avg, eps);
        if (momentum != T(0)) {
            const T bi = add(mul(b[i], momentum), div(gi, avg));
            b[i] = bi;
            p[i] = sub(p[i], mul(bi, lr));
        } else {
            p[i] = add(p[i], div(mul(gi, -lr), avg));
        }
    }
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&rmsprop_update<float>;
    (void)&rmsprop_update<double>;
}
#endif
