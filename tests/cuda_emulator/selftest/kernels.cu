// Kernels that test the emulator itself (tests/test_cuda_emulator.py): warp collectives, a block reduction with
// its barriers, the same without one (a race the race check must report), and a barrier that only some threads reach.
template <typename T>
__global__ void warp_sum(const T* x, int n, T* out)
{
    // one block; each warp reduces its 32 values with __shfl_down_sync, then warp 0 adds the warp sums
    __shared__ T partial[32];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    T v = tid < n ? x[tid] : T(0);
    for (int d = 16; d > 0; d /= 2) v += __shfl_down_sync(0xffffffffu, v, d);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / 32 ? partial[lane] : T(0);
        for (int d = 16; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
        if (lane == 0) *out = v;
    }
}

template <typename T>
__global__ void warp_sync_legacy(const T* x, T* out)
{
    // the pre-Volta "warp-synchronous" last steps of a reduction: no __syncwarp between the steps (a race)
    __shared__ T s[64];
    const int tid = threadIdx.x;
    s[tid] = x[tid] + x[tid + 32];
    if (tid < 16) s[tid] += s[tid + 16];
    if (tid < 8) s[tid] += s[tid + 8];
    if (tid < 4) s[tid] += s[tid + 4];
    if (tid < 2) s[tid] += s[tid + 2];
    if (tid < 1) s[tid] += s[tid + 1];
    if (tid == 0) *out = s[0];
}

template <typename T>
__global__ void block_sum(const T* x, int n, T* out)
{
    // a tree reduction over one block of 256 threads in shared memory, a barrier after every step
    __shared__ T s[256];
    const int tid = threadIdx.x;
    s[tid] = tid < n ? x[tid] : T(0);
    __syncthreads();
    for (int half = 128; half > 0; half /= 2) {
        if (tid < half) s[tid] += s[tid + half];
        __syncthreads();
    }
    if (tid == 0) *out = s[0];
}

template <typename T>
__global__ void block_sum_racy(const T* x, int n, T* out)
{
    // block_sum with the barrier of the loop left out: a thread may read s[tid + half] before its owner wrote it
    __shared__ T s[256];
    const int tid = threadIdx.x;
    s[tid] = tid < n ? x[tid] : T(0);
    __syncthreads();
    for (int half = 128; half > 0; half /= 2) {
        if (tid < half) s[tid] += s[tid + half];
    }
    if (tid == 0) *out = s[0];
}

template <typename T>
__global__ void divergent_barrier(T* out)
{
    // only half of the block reaches the barrier: undefined on a GPU, reported by the emulator
    if (threadIdx.x < 16) __syncthreads();
    out[threadIdx.x] = T(1);
}
