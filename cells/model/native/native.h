// Shared declarations of Promptscope's native kernels (see module.c).
#pragma once
#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
/** cblas_sgemm of the library module.c opened, or NULL. */
extern sgemm_fn sgemm;
/** Picks OpenBLAS's thread count for a product of `work` multiply-adds (module.c). */
void blas_threads_for(double work);
/** The most threads setThreads allowed (module.c): the addon's own parallel loops use no more. */
int kernel_threads(void);

/** The float32 data of an ArrayBuffer or Float32Array argument (NULL if it is neither); count in floats. */
float *floats(napi_env env, napi_value v, size_t *count);
/** The data of a Float32Array argument only (NULL otherwise); count in floats. */
float *float32_array(napi_env env, napi_value v, size_t *count);
/** The data of a Float64Array argument of exactly `count` numbers (the kernels' parameters), else NULL. */
const double *doubles(napi_env env, napi_value v, size_t count);

// Element-wise loops compiled for AVX-512 and AVX2 as well as the baseline (SSE2 on x86-64), the widest
// the CPU has picked at load time (GCC's ifunc clones; Linux x86-64 only). The addon is built without
// -march so that it runs on any CPU; with -ffp-contract=off every lane does the same IEEE operations at
// any width, and loops that reduce (sums) are not vectorised without -ffast-math, so each clone gives the
// same bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE_LOOPS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE_LOOPS
#endif

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, "native: bad argument to " #call); return NULL; } } while (0)

napi_value gemm(napi_env env, napi_callback_info info);
napi_value layer_norm(napi_env env, napi_callback_info info);
napi_value layer_norm_grad(napi_env env, napi_callback_info info);
napi_value column_sums(napi_env env, napi_callback_info info);
napi_value activation(napi_env env, napi_callback_info info);
napi_value activation_grad(napi_env env, napi_callback_info info);
napi_value adam_update(napi_env env, napi_callback_info info);
napi_value conv2d(napi_env env, napi_callback_info info);
napi_value depthwise_conv2d(napi_env env, napi_callback_info info);
