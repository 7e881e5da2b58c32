// Batched, strided matrix products through cblas_sgemm: enough to run a BatchMatMul and the attention
// products directly on the [batch, tokens, heads, head_dim] layout (no transposes).
#include "native.h"

// Stored extent (in floats) of `outer`×`inner` matrices of rows×cols with leading dimension ld. In double:
// the arguments are < 2^31 (checked), so the sum cannot wrap around as int64 products could.
static double extent(int64_t off, int64_t outer, int64_t s_outer, int64_t inner, int64_t s_inner, int64_t rows, int64_t cols, int64_t ld) {
  return (double)off + (double)(outer - 1) * s_outer + (double)(inner - 1) * s_inner + (double)(rows - 1) * ld + cols;
}

// gemm(heap, p): p is a Float64Array of 21 numbers
//   [transA, transB, m, n, k, outer, inner,
//    aOff, aOuter, aInner, lda,  bOff, bOuter, bInner, ldb,  cOff, cOuter, cInner, ldc,  alpha, beta]
// For o < outer, i < inner: C[o,i] = alpha·op(A[o,i])·op(B[o,i]) + beta·C[o,i], row-major, where matrix
// X[o,i] starts at heap[xOff + o·xOuter + i·xInner] (float offsets; a zero stride broadcasts) and op
// transposes when asked. Every matrix is checked to lie inside the heap: a wrong call throws, it never
// writes outside the buffer.
napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (!sgemm) { napi_throw_error(env, NULL, "native: no BLAS library is open"); return NULL; }
  size_t size = 0;
  float *heap = argc == 2 ? floats(env, argv[0], &size) : NULL;
  const double *p = heap ? doubles(env, argv[1], 21) : NULL;
  if (!p) {
    napi_throw_type_error(env, NULL, "native.gemm(heap, params): heap is an ArrayBuffer or Float32Array, params a Float64Array(21)");
    return NULL;
  }
  int64_t v[19];
  bool ok = true;
  // Every size, offset and stride is an integer in [0, 2^31): cblas takes int, and extent() relies on it.
  for (int i = 0; i < 19; i++) {
    ok = ok && p[i] >= 0 && p[i] < 2147483648.0 && p[i] == (double)(int64_t)p[i];
    v[i] = ok ? (int64_t)p[i] : 0;
  }
  bool ta = v[0] != 0, tb = v[1] != 0;
  int64_t m = v[2], n = v[3], k = v[4], outer = v[5], inner = v[6];
  const int64_t *a = v + 7, *b = v + 11, *c = v + 15; // off, sOuter, sInner, ld
  float alpha = (float)p[19], beta = (float)p[20];
  int64_t ar = ta ? k : m, acol = ta ? m : k, br = tb ? n : k, bcol = tb ? k : n;
  ok = ok && m > 0 && n > 0 && k > 0 && outer > 0 && inner > 0 && a[3] >= acol && b[3] >= bcol && c[3] >= n &&
       extent(a[0], outer, a[1], inner, a[2], ar, acol, a[3]) <= (double)size &&
       extent(b[0], outer, b[1], inner, b[2], br, bcol, b[3]) <= (double)size &&
       extent(c[0], outer, c[1], inner, c[2], m, n, c[3]) <= (double)size;
  if (!ok) { napi_throw_range_error(env, NULL, "native.gemm: bad sizes, or matrices outside the heap"); return NULL; }
  // Per matrix: the batched attention products are many small ones, each on one thread.
  blas_threads_for((double)m * n * k);
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      sgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, (int)m, (int)n, (int)k, alpha,
            heap + a[0] + o * a[1] + i * a[2], (int)a[3], heap + b[0] + o * b[1] + i * b[2], (int)b[3],
            beta, heap + c[0] + o * c[1] + i * c[2], (int)c[3]);
    }
  }
  return NULL;
}
