// Promptscope's native kernels for tfjs's wasm backend in Node: the system's CBLAS `sgemm` (OpenBLAS on
// Debian, loaded with dlopen at run time) and a few fused loops, all working on the float32 data tfjs
// already holds in its WebAssembly heap, so nothing is copied. Why this exists and what it is worth:
// bench/README.md. Built by build.mjs at `npm ci`; everything works without it.
// This file: the module, and opening the BLAS library.
#include "native.h"
#include <dlfcn.h>

typedef void (*set_threads_fn)(int);
sgemm_fn sgemm;
static set_threads_fn set_threads;
static int max_threads = 1, current_threads = -1;
static bool threads_set = false;

// OpenBLAS's threads sleep between calls, and waking them costs more than a small product (measured:
// a 768×32×128 product took 3 ms on two threads inside a training step, 70 µs on one). So products
// below SMALL_WORK multiply-adds run on one thread; larger ones on every thread setThreads allowed.
#define SMALL_WORK (8.0 * 1024 * 1024)
void blas_threads_for(double work) {
  int want = work < SMALL_WORK ? 1 : max_threads;
  if (set_threads && want != current_threads) {
    set_threads(want);
    current_threads = want;
  }
}

int kernel_threads(void) {
  return max_threads;
}

// open(path): dlopen a CBLAS library; returns true when it has cblas_sgemm.
static napi_value open_library(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; char path[4096]; size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  sgemm_fn f = lib ? (sgemm_fn)dlsym(lib, "cblas_sgemm") : NULL;
  if (f) {
    sgemm = f;
    set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
  }
  napi_value ok; CHECK(napi_get_boolean(env, f != NULL, &ok));
  return ok;
}

// setThreads(n): the most threads OpenBLAS may use (false when the library has no such call). OpenBLAS's
// count is process-wide while this addon is loaded once per thread (main thread, workers), so the lowest
// request wins and stays: once single-threaded workers run, the whole process uses one BLAS thread, and
// no worker ever raises the count under another thread's running product.
static napi_value set_thread_count(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1]; int32_t n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[0], &n));
  if (n < 1) n = 1;
  if (!threads_set || n < max_threads) max_threads = n;
  threads_set = true;
  current_threads = -1;
  blas_threads_for(SMALL_WORK);
  napi_value ok; CHECK(napi_get_boolean(env, set_threads != NULL, &ok));
  return ok;
}

// The float32 data of an ArrayBuffer or typed array argument.
// The data of a typed array of `type`, or NULL; its length in elements in *count.
static void *typed_array(napi_env env, napi_value v, napi_typedarray_type type, size_t *count) {
  bool is_typed = false; napi_typedarray_type actual; void *data = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &actual, count, &data, NULL, NULL) != napi_ok || actual != type) return NULL;
  return data;
}

float *float32_array(napi_env env, napi_value v, size_t *count) {
  return typed_array(env, v, napi_float32_array, count);
}

float *floats(napi_env env, napi_value v, size_t *count) {
  float *data = float32_array(env, v, count);
  if (data) return data;
  size_t bytes = 0; void *raw = NULL;
  if (napi_get_arraybuffer_info(env, v, &raw, &bytes) != napi_ok) return NULL;
  *count = bytes / 4;
  return raw;
}

const double *doubles(napi_env env, napi_value v, size_t count) {
  size_t length = 0;
  const double *data = typed_array(env, v, napi_float64_array, &length);
  return data && length == count ? data : NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "open", NULL, open_library, NULL, NULL, NULL, napi_default, NULL },
    { "setThreads", NULL, set_thread_count, NULL, NULL, NULL, napi_default, NULL },
    { "gemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL },
    { "layerNorm", NULL, layer_norm, NULL, NULL, NULL, napi_default, NULL },
    { "layerNormGrad", NULL, layer_norm_grad, NULL, NULL, NULL, napi_default, NULL },
    { "columnSums", NULL, column_sums, NULL, NULL, NULL, napi_default, NULL },
    { "activation", NULL, activation, NULL, NULL, NULL, napi_default, NULL },
    { "activationGrad", NULL, activation_grad, NULL, NULL, NULL, napi_default, NULL },
    { "adamUpdate", NULL, adam_update, NULL, NULL, NULL, napi_default, NULL },
    { "conv2d", NULL, conv2d, NULL, NULL, NULL, napi_default, NULL },
    { "depthwiseConv2d", NULL, depthwise_conv2d, NULL, NULL, NULL, napi_default, NULL },
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
