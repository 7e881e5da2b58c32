// 2-D convolutions on NHWC float32 tensors in the wasm heap, for tfjs's Conv2D family (kernels in
// conv-kernels.ts). Dense convolutions become matrix products through im2col: the patches of a chunk of
// images are laid out as rows [pixels, fh·fw·cin] in a scratch buffer, in the order of tfjs's filter layout
// [fh, fw, cin, cout], so the filter is already the right-hand matrix. Depthwise convolutions are direct
// loops (each output channel reads one input channel: there is no product to hand to BLAS).
//
// Where the CPU has AVX2 + FMA, dense convolutions whose output channels (for the input gradient: input
// channels) are a multiple of 8 take the direct kernels of conv-direct.c instead: forward, input and
// filter gradients (2–3× faster at CIFAR sizes, bench/README.md).
//
// Calling convention: depthwiseConv2d(heap, p) with p a Float64Array(19):
//   [mode, batch, inH, inW, inC, outH, outW, outC, fH, fW, strideH, strideW, dilationH, dilationW,
//    padTop, padLeft, xOff, wOff, yOff]
// and conv2d(heap, p) with p a Float64Array(21): the same, then [biasOff, activation] (mode 0 only:
// biasOff −1 for none, else outC floats added to y; activation 0 none, 1 ReLU, plus 2 for "direct kernel
// only": then nothing is written and false returned where the direct kernel does not apply, so the
// caller can take another kernel; otherwise true). Offsets in floats into the heap. mode 0: y = act(conv(x, w) + bias). mode 1 (input gradient): reads dy at yOff and
// w, writes dx at xOff. mode 2 (filter gradient): reads x and dy, writes dw at wOff. The depthwise
// filter is [fH, fW, inC, multiplier] with outC = inC·multiplier and output channel c·multiplier + q, as
// in tfjs. Every tensor's range is checked against the heap before anything is written.
#include "native.h"
#include "conv.h"
#include <stdlib.h>
#include <string.h>

// Scratch rows are bounded so that a chunk's patch matrix stays near 16 MB whatever the batch size.
#define SCRATCH_FLOATS (4 * 1024 * 1024)

static bool read_geometry(napi_env env, napi_callback_info info, float **heap, size_t *size, Geometry *g, bool depthwise, const double **params) {
  size_t argc = 2; napi_value argv[2]; const double *p = NULL;
  size_t n = depthwise ? 19 : 21;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      !(*heap = floats(env, argv[0], size)) || !(p = doubles(env, argv[1], n))) {
    napi_throw_type_error(env, NULL, depthwise ? "native conv: expected (heap: ArrayBuffer, params: Float64Array(19))"
                                               : "native conv: expected (heap: ArrayBuffer, params: Float64Array(21))");
    return false;
  }
  if (params) *params = p;
  int64_t v[19];
  bool ok = true;
  for (int i = 0; i < 19; i++) {
    // pads may be negative in principle (tfjs never makes them so), everything else is a count or offset
    double lo = (i == 14 || i == 15) ? -2147483648.0 : 0;
    ok = ok && p[i] >= lo && p[i] < 2147483648.0 && p[i] == (double)(int64_t)p[i];
    v[i] = ok ? (int64_t)p[i] : 0;
  }
  memcpy(g, v, sizeof v);
  ok = ok && g->mode <= 2 && g->batch > 0 && g->ih > 0 && g->iw > 0 && g->ic > 0 && g->oh > 0 && g->ow > 0 && g->oc > 0 &&
       g->fh > 0 && g->fw > 0 && g->sh > 0 && g->sw > 0 && g->dh > 0 && g->dw > 0 && (!depthwise || g->oc % g->ic == 0);
  int64_t wsize = depthwise ? g->fh * g->fw * g->oc : g->fh * g->fw * g->ic * g->oc;
  ok = ok && (double)g->x + (double)g->batch * g->ih * g->iw * g->ic <= (double)*size &&
       (double)g->w + (double)wsize <= (double)*size &&
       (double)g->y + (double)g->batch * g->oh * g->ow * g->oc <= (double)*size;
  if (!ok) {
    napi_throw_range_error(env, NULL, "native conv: bad geometry, or a tensor outside the heap");
    return false;
  }
  return true;
}

// Patch rows of images [b0, b1): col[r, (ky·fw + kx)·ic + c] = x[b, oy·sh − pt + ky·dh, ox·sw − pl + kx·dw, c]
// (zero outside the image), r running over (b, oy, ox).
static void im2col(const Geometry *g, const float *x, int64_t b0, int64_t b1, float *col) {
  int64_t k = g->fh * g->fw * g->ic;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        float *row = col + (((b - b0) * g->oh + oy) * g->ow + ox) * k;
        for (int64_t ky = 0; ky < g->fh; ky++) {
          int64_t iy = oy * g->sh - g->pt + ky * g->dh;
          for (int64_t kx = 0; kx < g->fw; kx++) {
            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
            float *dst = row + (ky * g->fw + kx) * g->ic;
            if (iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw) memset(dst, 0, sizeof(float) * g->ic);
            else memcpy(dst, x + ((b * g->ih + iy) * g->iw + ix) * g->ic, sizeof(float) * g->ic);
          }
        }
      }
}

// The transpose of im2col: adds each patch row back onto the image positions it was read from.
static void col2im_add(const Geometry *g, const float *col, int64_t b0, int64_t b1, float *dx) {
  int64_t k = g->fh * g->fw * g->ic;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const float *row = col + (((b - b0) * g->oh + oy) * g->ow + ox) * k;
        for (int64_t ky = 0; ky < g->fh; ky++) {
          int64_t iy = oy * g->sh - g->pt + ky * g->dh;
          if (iy < 0 || iy >= g->ih) continue;
          for (int64_t kx = 0; kx < g->fw; kx++) {
            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
            if (ix < 0 || ix >= g->iw) continue;
            const float *src = row + (ky * g->fw + kx) * g->ic;
            float *dst = dx + ((b * g->ih + iy) * g->iw + ix) * g->ic;
            for (int64_t c = 0; c < g->ic; c++) dst[c] += src[c];
          }
        }
      }
}

napi_value conv2d(napi_env env, napi_callback_info info) {
  float *h; size_t size; Geometry g; const double *p;
  if (!read_geometry(env, info, &h, &size, &g, false, &p)) return NULL;
  if (!sgemm) { napi_throw_error(env, NULL, "native: no BLAS library is open"); return NULL; }
  float *x = h + g.x, *w = h + g.w, *y = h + g.y;
  const float *bias = NULL;
  bool relu = p[20] == 1 || p[20] == 3, direct_only = p[20] >= 2;
  napi_value done, declined;
  if (napi_get_boolean(env, true, &done) != napi_ok || napi_get_boolean(env, false, &declined) != napi_ok) return NULL;
  if (g.mode == 0 && p[19] >= 0) {
    if (!(p[19] == (double)(int64_t)p[19] && p[19] + (double)g.oc <= (double)size)) {
      napi_throw_range_error(env, NULL, "native conv: the bias lies outside the heap");
      return NULL;
    }
    bias = h + (int64_t)p[19];
  }
  if (!(p[20] == 0 || p[20] == 1 || p[20] == 2 || p[20] == 3)) { napi_throw_range_error(env, NULL, "native conv: p[20] must be 0–3 (ReLU 1, direct only 2)"); return NULL; }
  if (g.mode == 0 && direct_conv_forward(&g, x, w, bias, relu, y)) return done;
  if (g.mode == 1 && direct_conv_input_grad(&g, y, w, x)) return done;
  if (g.mode == 2 && direct_conv_filter_grad(&g, x, y, w)) return done;
  if (direct_only) return declined;
  int64_t k = g.fh * g.fw * g.ic, pixels = g.oh * g.ow;
  // A 1×1, stride-1, unpadded convolution is already a product on the image rows: no patch copy.
  bool direct = g.fh == 1 && g.fw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 && g.oh == g.ih && g.ow == g.iw;
  int64_t chunk = direct ? g.batch : SCRATCH_FLOATS / (pixels * k);
  if (chunk < 1) chunk = 1;
  if (chunk > g.batch) chunk = g.batch;
  float *col = direct ? NULL : malloc(sizeof(float) * chunk * pixels * k);
  if (!direct && !col) { napi_throw_error(env, NULL, "native conv: out of memory for the patch buffer"); return NULL; }
  if (g.mode == 1) memset(x, 0, sizeof(float) * g.batch * g.ih * g.iw * g.ic);
  blas_threads_for((double)chunk * pixels * k * g.oc);
  for (int64_t b0 = 0; b0 < g.batch; b0 += chunk) {
    int64_t b1 = b0 + chunk < g.batch ? b0 + chunk : g.batch, rows = (b1 - b0) * pixels;
    float *patches = direct ? x + b0 * pixels * k : col;
    float *dy = y + b0 * pixels * g.oc;
    if (g.mode == 0) {
      if (!direct) im2col(&g, x, b0, b1, col);
      sgemm(RowMajor, NoTrans, NoTrans, (int)rows, (int)g.oc, (int)k, 1.0f, patches, (int)k, w, (int)g.oc, 0.0f, dy, (int)g.oc);
      if (bias || relu)
        for (int64_t r = 0; r < rows; r++)
          for (int64_t o = 0; o < g.oc; o++) {
            float v = dy[r * g.oc + o] + (bias ? bias[o] : 0.0f);
            dy[r * g.oc + o] = relu && v < 0 ? 0.0f : v;
          }
    } else if (g.mode == 1) {
      // dpatches = dy · wᵀ; written straight into dx when the patches are the image rows
      sgemm(RowMajor, NoTrans, Trans, (int)rows, (int)k, (int)g.oc, 1.0f, dy, (int)g.oc, w, (int)g.oc, 0.0f, patches, (int)k);
      if (!direct) col2im_add(&g, col, b0, b1, x);
    } else {
      if (!direct) im2col(&g, x, b0, b1, col);
      // dw (+)= patchesᵀ · dy, accumulated over the chunks
      sgemm(RowMajor, Trans, NoTrans, (int)k, (int)g.oc, (int)rows, 1.0f, patches, (int)k, dy, (int)g.oc, b0 == 0 ? 0.0f : 1.0f, w, (int)g.oc);
    }
  }
  free(col);
  return done;
}

// Depthwise with one output per input channel, unit horizontal stride and dilation (Pro-tuning's 3×3
// block): for a tap and an output row, the valid output pixels read a contiguous run of the input row, and
// output, input and filter (repeated along the row) line up element for element, so each step is one
// vectorisable loop over (pixel, channel) instead of a bounds test per pixel and tap. The filter gradient
// sums each image in float per (tap, pixel, channel), then the batch in double, reduced over pixels at the end.
static bool depthwise_rows(const Geometry *g, float *x, float *w, float *y) {
  int64_t C = g->ic, ow = g->ow, taps = g->fh * g->fw, row = ow * C;
  float *wrow = malloc(sizeof(float) * taps * row), *part = g->mode == 2 ? calloc((size_t)(taps * row), sizeof(float)) : NULL;
  double *acc = g->mode == 2 ? calloc((size_t)(taps * row), sizeof(double)) : NULL;
  if (!wrow || (g->mode == 2 && (!part || !acc))) { free(wrow); free(part); free(acc); return false; }
  for (int64_t t = 0; t < taps; t++)
    for (int64_t i = 0; i < row; i++) wrow[t * row + i] = w[t * C + i % C];
  if (g->mode == 0) memset(y, 0, sizeof(float) * g->batch * g->oh * row);
  if (g->mode == 1) memset(x, 0, sizeof(float) * g->batch * g->ih * g->iw * C);
  for (int64_t b = 0; b < g->batch; b++) {
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ky = 0; ky < g->fh; ky++) {
        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
        if (iy < 0 || iy >= g->ih) continue;
        for (int64_t kx = 0; kx < g->fw; kx++) {
          // ix = ox − pl + kx must lie in [0, iw)
          int64_t lo = g->pl - kx > 0 ? g->pl - kx : 0, hi = g->iw + g->pl - kx < ow ? g->iw + g->pl - kx : ow;
          if (lo >= hi) continue;
          int64_t t = ky * g->fw + kx, n = (hi - lo) * C;
          float *xr = x + ((b * g->ih + iy) * g->iw + lo - g->pl + kx) * C, *yr = y + ((b * g->oh + oy) * ow + lo) * C;
          const float *wr = wrow + t * row + lo * C;
          if (g->mode == 0) for (int64_t i = 0; i < n; i++) yr[i] += xr[i] * wr[i];
          else if (g->mode == 1) for (int64_t i = 0; i < n; i++) xr[i] += yr[i] * wr[i];
          else { float *pr = part + t * row + lo * C; for (int64_t i = 0; i < n; i++) pr[i] += xr[i] * yr[i]; }
        }
      }
    if (g->mode == 2)
      for (int64_t i = 0; i < taps * row; i++) { acc[i] += part[i]; part[i] = 0; }
  }
  if (g->mode == 2)
    for (int64_t t = 0; t < taps; t++)
      for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t ox = 0; ox < ow; ox++) s += acc[t * row + ox * C + c];
        w[t * C + c] = (float)s;
      }
  free(wrow); free(part); free(acc);
  return true;
}

// Depthwise: output channel o = c·m + q reads input channel c through filter w[ky, kx, c, q].
napi_value depthwise_conv2d(napi_env env, napi_callback_info info) {
  float *h; size_t size; Geometry g;
  if (!read_geometry(env, info, &h, &size, &g, true, NULL)) return NULL;
  float *x = h + g.x, *w = h + g.w, *y = h + g.y;
  if (g.oc == g.ic && g.sw == 1 && g.dw == 1 && depthwise_rows(&g, x, w, y)) return NULL;
  int64_t m = g.oc / g.ic, wsize = g.fh * g.fw * g.oc;
  // The filter gradient sums over every pixel of the batch: accumulated in double, rounded once.
  double *acc = g.mode == 2 ? calloc((size_t)wsize, sizeof(double)) : NULL;
  if (g.mode == 2 && !acc) { napi_throw_error(env, NULL, "native conv: out of memory"); return NULL; }
  if (g.mode == 0) memset(y, 0, sizeof(float) * g.batch * g.oh * g.ow * g.oc);
  if (g.mode == 1) memset(x, 0, sizeof(float) * g.batch * g.ih * g.iw * g.ic);
  for (int64_t b = 0; b < g.batch; b++)
    for (int64_t oy = 0; oy < g.oh; oy++)
      for (int64_t ox = 0; ox < g.ow; ox++) {
        float *yo = y + ((b * g.oh + oy) * g.ow + ox) * g.oc;
        for (int64_t ky = 0; ky < g.fh; ky++) {
          int64_t iy = oy * g.sh - g.pt + ky * g.dh;
          if (iy < 0 || iy >= g.ih) continue;
          for (int64_t kx = 0; kx < g.fw; kx++) {
            int64_t ix = ox * g.sw - g.pl + kx * g.dw;
            if (ix < 0 || ix >= g.iw) continue;
            float *xi = x + ((b * g.ih + iy) * g.iw + ix) * g.ic;
            const float *wk = w + (ky * g.fw + kx) * g.oc;
            if (g.mode == 0) {
              for (int64_t o = 0; o < g.oc; o++) yo[o] += xi[o / m] * wk[o];
            } else if (g.mode == 1) {
              if (m == 1) for (int64_t c = 0; c < g.ic; c++) xi[c] += yo[c] * wk[c];
              else for (int64_t o = 0; o < g.oc; o++) xi[o / m] += yo[o] * wk[o];
            } else {
              double *ak = acc + (ky * g.fw + kx) * g.oc;
              for (int64_t o = 0; o < g.oc; o++) ak[o] += (double)xi[o / m] * yo[o];
            }
          }
        }
      }
  if (g.mode == 2) {
    for (int64_t i = 0; i < wsize; i++) w[i] = (float)acc[i];
    free(acc);
  }
  return NULL;
}
