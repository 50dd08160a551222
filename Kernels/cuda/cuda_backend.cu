/* cuda_backend.cu: finds a usable GPU and assembles the CUDA kernel table from each file's entries. */
#include "cuda_kernels.h"

#include <mutex>
#include <stdio.h>

static mg_kernels table;
static char unusable[512]; /* why the GPU cannot be used; "" when it can */
static std::once_flag once;

/* The current device must run our sm_80/sm_90 code (or JIT the PTX) and cuDNN must load. */
static void probe(void) {
  int count = 0, device = 0, driver = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e == cudaErrorInsufficientDriver) { /* the runtime's wording is misleading when there is no driver at all */
    cudaDriverGetVersion(&driver);
    if (driver == 0)
      snprintf(unusable, sizeof unusable, "no usable CUDA GPU (no NVIDIA driver is installed)");
    else
      snprintf(unusable, sizeof unusable, "no usable CUDA GPU (the NVIDIA driver supports CUDA %d.%d; MedGen was built "
               "with CUDA %d.%d)", driver / 1000, driver % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    cudaGetLastError();
    return;
  }
  if (e != cudaSuccess || count == 0) {
    snprintf(unusable, sizeof unusable, "no usable CUDA GPU (%s)",
             e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
    cudaGetLastError(); /* not sticky: clear it */
    return;
  }
  cudaDeviceProp p;
  if ((e = cudaGetDevice(&device)) != cudaSuccess || (e = cudaGetDeviceProperties(&p, device)) != cudaSuccess) {
    snprintf(unusable, sizeof unusable, "no usable CUDA GPU (%s)", cudaGetErrorString(e));
    return;
  }
  if (p.major < 8) {
    snprintf(unusable, sizeof unusable,
             "the GPU %s has compute capability %d.%d; MedGen's CUDA kernels need 8.0 (Ampere) or newer", p.name,
             p.major, p.minor);
    return;
  }
  if (cudnnGetVersion() / 10000 != CUDNN_MAJOR) {
    snprintf(unusable, sizeof unusable, "cuDNN %zu is loaded; MedGen was built for cuDNN %d", cudnnGetVersion(),
             CUDNN_MAJOR);
    return;
  }
  table.name = "cuda";
  mg_cuda_register_memory(&table);
  mg_cuda_register_random(&table);
  mg_cuda_register_gemm(&table);
  mg_cuda_register_conv(&table);
  mg_cuda_register_norm(&table);
  mg_cuda_register_elementwise(&table);
  mg_cuda_register_attention(&table);
  mg_cuda_register_resample(&table);
  mg_cuda_register_embedding(&table);
  mg_cuda_register_loss(&table);
  mg_cuda_register_optim(&table);
  mg_cuda_register_gan(&table);
}

extern "C" const mg_kernels *mg_cuda_kernels(char *why, size_t why_size) {
  std::call_once(once, probe);
  if (why && why_size) snprintf(why, why_size, "%s", unusable);
  return unusable[0] ? NULL : &table;
}
