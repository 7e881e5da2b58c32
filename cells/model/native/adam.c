// Adam / AdamW over flat float32 vectors: the same arithmetic, in the same order and in double precision,
// as FlatAdam.update in bench/support/adam.ts (JavaScript computes in double and rounds when it stores into a
// Float32Array), so both give bit-identical parameters; this one is several times faster on big tables.
#include "native.h"
#include <math.h>

// adamUpdate(params, grads, m, v, hyper): Float32Arrays of one length; hyper a Float64Array
// [beta1, beta2, epsilon, learningRate, 1 - beta1^t, 1 - beta2^t, 1 - learningRate·weightDecay].
napi_value adam_update(napi_env env, napi_callback_info info) {
  size_t argc = 5; napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t n[4] = {0}; float *a[4] = {0}; bool ok = argc == 5;
  for (int i = 0; i < 4 && ok; i++) ok = (a[i] = float32_array(env, argv[i], &n[i])) != NULL && n[i] == n[0];
  const double *h = ok ? doubles(env, argv[4], 7) : NULL;
  if (!h) {
    napi_throw_type_error(env, NULL, "native.adamUpdate(params, grads, m, v, hyper): four Float32Arrays of one length and a Float64Array(7)");
    return NULL;
  }
  float *p = a[0], *g = a[1], *m = a[2], *v = a[3];
  const double b1 = h[0], b2 = h[1], eps = h[2], lr = h[3], c1 = h[4], c2 = h[5], decay = h[6];
  for (size_t i = 0; i < n[0]; i++) {
    double gi = g[i];
    double mi = b1 * m[i] + (1 - b1) * gi;
    double vi = b2 * v[i] + (1 - b2) * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    p[i] = (float)(p[i] * decay - (lr * (mi / c1)) / (sqrt(vi / c2) + eps));
  }
  return NULL;
}
