// Adam over a list of parameters in one launch, compiled through CuPy by kernels/adam/cuda.py.
//
// The parameters, gradients and moments are passed as a table of addresses, five per parameter
// (p, g, m, v, v_max), and the work as chunks: chunk c is elements [chunk_start[c], chunk_start[c] + chunk) of
// parameter chunk_param[c], one block per chunk. Every operation is the reference's, in its order and dtype,
// each rounded on its own (the _rn intrinsics: no fused multiply-add), so the results equal the reference's bits
// (in float32, up to subnormal numbers, which CuPy's -ftz=true flushes to zero).

#include "../rounded.cuh"

template <typename T>
__global__ void __launch_bounds__(256) adam_update(const unsigned long long* __restrict__ table,
                                                   const int* __restrict__ sizes, const int* __restrict__ chunk_param,
                                                   const int* __restrict__ chunk_start, int chunk,
                                                   const T* __restrict__ step_size, const T* __restrict__ bc2_sqrt,
                                                   int amsgrad, T decay, T w, T one_minus_w, int small_w, T c2, T b2,
                                                   T eps)
{
    // m = lerp(m, g, w) as torch.lerp; v = b2 v + (g c2) g; p += m step_size / (sqrt(v or v_max) / bc2_sqrt + eps),
    // with g = p decay + g under weight decay, and step_size = -lr / (1 - beta1^t) per parameter
    const int k = chunk_param[blockIdx.x];
    T* p = reinterpret_cast<T*>(table[5 * k]);
    const T* g = reinterpret_cast<const T*>(table[5 * k + 1]);
    T* m = reinterpret_cast<T*>(table[5 * k + 2]);
    T* v = reinterpret_cast<T*>(table[5 * k + 3]);
    T* v_max = reinterpret_cast<T*>(table[5 * k + 4]);
    const T s = step_size[k], c = bc2_sqrt[k];
    const int end = min(chunk_start[blockIdx.x] + chunk, sizes[k]);
    for (int i = chunk_start[blockIdx.x] + threadIdx.x; i < end; i += blockDim.x) {
        T gi = g[i];
        if (decay != T(0)) gi = add(mul(p[i], decay), gi);
        const T mi = small_w ? add(m[i], mul(sub(gi, m[i]), w)) : sub(gi, mul(sub(gi, m[i]), one_minus_w));
        m[i] = mi;
        T vi = add(mul(v[i], b2), mul(mul(gi, c2), gi));
        v[i] = vi;
        if (amsgrad) {
            vi = v_max[i] > vi ? v_max[i] : vi;
            v_max[i] = vi;
        }
        p[i] = add(p[i], div(mul(mi, s), add(div(root(vi), c), eps)));
    }
}

#ifdef MINIGAN_NVCC_CHECK  // nvcc -DMINIGAN_NVCC_CHECK -c: instantiate every kernel, as CuPy does at run time
void minigan_nvcc_check()
{
    (void)&adam_update<float>;
    (void)&adam_update<double>;
}
#endif
