/* memory.cu: device memory with plain cudaMalloc (the engine's arenas make allocation rare), copies, fills, the
 * per-thread stream and handles, and the failure record behind take_error. */
#include "cuda_kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_key_t state_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void state_free(void *p) {
  mg_cuda_state *s = (mg_cuda_state *)p;
  if (s->stream) cudaStreamSynchronize(s->stream);
  if (s->cudnn) cudnnDestroy(s->cudnn);
  if (s->cublas) cublasDestroy(s->cublas);
  if (s->partials) cudaFree(s->partials);
  if (s->stream) cudaStreamDestroy(s->stream);
  delete s;
}

static void key_create(void) { pthread_key_create(&state_key, state_free); }

/* A failed creation is kept as the thread's failure; later calls then fail on the missing handle and the engine
 * hears of it at the next take_error. */
mg_cuda_state *mg_cuda(void) {
  pthread_once(&key_once, key_create);
  mg_cuda_state *s = (mg_cuda_state *)pthread_getspecific(state_key);
  if (s) return s;
  s = new mg_cuda_state();
  pthread_setspecific(state_key, s);
  /* Non-blocking: the legacy default stream, which other libraries in the process may use, never waits on it. */
  MG_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
  MG_CUDA_CHECK(cudaMalloc((void **)&s->partials, MG_CUDA_MAX_PARTIALS * sizeof(double)));
  MG_CUBLAS_CHECK(cublasCreate(&s->cublas));
  if (s->cublas) MG_CUBLAS_CHECK(cublasSetStream(s->cublas, s->stream));
  MG_CUDNN_CHECK(cudnnCreate(&s->cudnn));
  if (s->cudnn) MG_CUDNN_CHECK(cudnnSetStream(s->cudnn, s->stream));
  s->math = MG_MATH_FP32;
  return s;
}

void mg_cuda_record(const char *where, const char *what) {
  mg_cuda_state *s = mg_cuda();
  if (!s->error[0]) snprintf(s->error, sizeof s->error, "%s (in %s)", what, where);
}

/* NULL on failure. Out of memory is not kept: the engine reports it as such. Any other failure (a fault of an
 * earlier kernel, which every later call repeats) is kept, so take_error names it rather than memory. */
static void *cuda_alloc(size_t bytes) {
  void *p = NULL;
  cudaError_t e = cudaMalloc(&p, bytes ? bytes : 64);
  if (e != cudaSuccess) {
    if (e != cudaErrorMemoryAllocation) mg_cuda_record("cudaMalloc", cudaGetErrorString(e));
    cudaGetLastError();
    return NULL;
  }
  return p;
}

/* cudaFree may not wait for this thread's non-blocking stream: work queued on the memory must finish first. */
static void cuda_free(void *p) {
  if (!p) return;
  MG_CUDA_CHECK(cudaStreamSynchronize(mg_cuda()->stream));
  MG_CUDA_CHECK(cudaFree(p));
}

/* Uploads and downloads wait: the caller may reuse or read its host buffer as soon as they return. */
static void cuda_upload(void *dst, const void *src, size_t bytes) {
  cudaStream_t st = mg_cuda()->stream;
  MG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st));
  MG_CUDA_CHECK(cudaStreamSynchronize(st));
}
static void cuda_download(void *dst, const void *src, size_t bytes) {
  cudaStream_t st = mg_cuda()->stream;
  MG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, st));
  MG_CUDA_CHECK(cudaStreamSynchronize(st));
}
static void cuda_copy(void *dst, const void *src, size_t bytes) {
  MG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, mg_cuda()->stream));
}
static void cuda_fill_zero(void *dst, size_t bytes) { MG_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, mg_cuda()->stream)); }

static __global__ void fill_kernel(int64_t n, mg_real value, mg_real *y) {
  MG_CUDA_FOR(i, n) y[i] = value;
}
static void cuda_fill(int64_t n, mg_real value, mg_real *y) {
  if (n <= 0) return;
  fill_kernel<<<mg_cuda_blocks(n), MG_CUDA_THREADS, 0, mg_cuda()->stream>>>(n, value, y);
  MG_CUDA_LAUNCHED("fill");
}

static void cuda_set_threads(int threads) { (void)threads; }

/* FP32: cuBLAS's default math (no tensor cores for float); TF32 lets it round products to TF32. cuDNN reads the
 * mode per call (conv.cu). */
static void cuda_set_math_mode(mg_math_mode mode) {
  mg_cuda_state *s = mg_cuda();
  if (s->math == mode) return; /* a new handle starts in FP32, cuBLAS's default */
  s->math = mode;
  if (s->cublas)
    MG_CUBLAS_CHECK(cublasSetMathMode(s->cublas, mode == MG_MATH_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

static int cuda_take_error(char *msg, size_t msg_size) {
  mg_cuda_state *s = mg_cuda();
  MG_CUDA_CHECK(cudaStreamSynchronize(s->stream)); /* a fault inside a kernel shows here */
  int failed = s->error[0] != '\0';
  if (msg && msg_size) snprintf(msg, msg_size, "%s", s->error);
  s->error[0] = '\0';
  return failed;
}

void mg_cuda_register_memory(mg_kernels *k) {
  k->alloc = cuda_alloc;
  k->free = cuda_free;
  k->upload = cuda_upload;
  k->download = cuda_download;
  k->copy = cuda_copy;
  k->fill_zero = cuda_fill_zero;
  k->fill = cuda_fill;
  k->set_threads = cuda_set_threads;
  k->set_math_mode = cuda_set_math_mode;
  k->take_error = cuda_take_error;
}
