// A direct NHWC convolution for the small channel counts of CIFAR-sized CNNs (3 to 64 channels), where
// im2col + sgemm is a poor fit: the product is thin (16–64 columns), and the patch copy costs as much as
// the arithmetic. Measured against PyTorch's oneDNN in bench/resnet.ts (bench/README.md).
//
// Each image is first copied into a zero-padded scratch image (so the inner loops never test borders),
// then every tile of 6 consecutive output pixels × 16 output channels keeps its 12 accumulators in AVX
// registers while the loop runs over the taps and input channels: per input value one broadcast and two
// fused multiply-adds per output pixel. The sums run in the order (ky, kx, input channel), starting from
// the bias. The addon is built without -march (it must load on any x86-64), so the kernel is compiled
// for AVX2 + FMA with a target attribute and chosen at run time; elsewhere the callers keep im2col.
#include "conv.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

static int cpu_state = -1;
static bool has_avx2_fma(void) {
  if (cpu_state < 0) {
    __builtin_cpu_init();
    cpu_state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return cpu_state == 1;
}

enum { TILE = 6 };

// One tile: np (≤ 6) output pixels × nv (1 or 2) vectors of 8 output channels. Inlined with constant np
// and nv, so the accumulator arrays become registers.
__attribute__((target("avx2,fma"), always_inline)) static inline void tile(
    const float *xs, int64_t xstep, int64_t rowstep, const float *w, int64_t oc, int64_t ic, int64_t fh, int64_t fw,
    const float *bias, bool relu, float *ys, int np, int nv) {
  __m256 acc[TILE][2];
  for (int v = 0; v < nv; v++) {
    __m256 b0 = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
    for (int p = 0; p < np; p++) acc[p][v] = b0;
  }
  for (int64_t ky = 0; ky < fh; ky++)
    for (int64_t kx = 0; kx < fw; kx++) {
      const float *xk = xs + ky * rowstep + kx * ic;
      const float *wk = w + (ky * fw + kx) * ic * oc;
      for (int64_t c = 0; c < ic; c++) {
        __m256 wv[2];
        for (int v = 0; v < nv; v++) wv[v] = _mm256_loadu_ps(wk + c * oc + 8 * v);
        for (int p = 0; p < np; p++) {
          __m256 xb = _mm256_broadcast_ss(xk + p * xstep + c);
          for (int v = 0; v < nv; v++) acc[p][v] = _mm256_fmadd_ps(xb, wv[v], acc[p][v]);
        }
      }
    }
  __m256 zero = _mm256_setzero_ps();
  for (int p = 0; p < np; p++)
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(ys + p * oc + 8 * v, relu ? _mm256_max_ps(acc[p][v], zero) : acc[p][v]);
}

#define TILE_CASE(NP, NV) tile(xs, xstep, rowstep, w + o, oc, ic, fh, fw, bias ? bias + o : NULL, relu, ys + o, NP, NV)
#define TILE_ROW(NV) switch (np) { \
  case 6: TILE_CASE(6, NV); break; case 5: TILE_CASE(5, NV); break; case 4: TILE_CASE(4, NV); break; \
  case 3: TILE_CASE(3, NV); break; case 2: TILE_CASE(2, NV); break; default: TILE_CASE(1, NV); break; }

// Output rows of one image from its padded copy xp (row stride pw pixels).
__attribute__((target("avx2,fma"))) static void image_avx2(
    const float *xp, int64_t pw, int64_t ic, int64_t fh, int64_t fw, int64_t sh, int64_t sw,
    const float *w, int64_t oc, const float *bias, bool relu, float *y, int64_t oh, int64_t ow) {
  int64_t xstep = sw * ic, rowstep = pw * ic;
  for (int64_t oy = 0; oy < oh; oy++)
    for (int64_t ox = 0; ox < ow; ox += TILE) {
      int np = ow - ox < TILE ? (int)(ow - ox) : TILE;
      const float *xs = xp + (oy * sh * pw + ox * sw) * ic;
      float *ys = y + (oy * ow + ox) * oc;
      int64_t o = 0;
      for (; o + 16 <= oc; o += 16) TILE_ROW(2)
      if (o < oc) TILE_ROW(1)
    }
}

// Copies image b of x [H, W, C] into scratch [ph, pw, C] with pt rows and pl columns of zeros before it
// and zeros wherever the window reaches past the image.
static void pad_image(const float *x, int64_t H, int64_t W, int64_t C, int64_t pt, int64_t pl, int64_t ph, int64_t pw, float *xp) {
  for (int64_t r = 0; r < ph; r++) {
    int64_t iy = r - pt;
    float *row = xp + r * pw * C;
    if (iy < 0 || iy >= H) { memset(row, 0, sizeof(float) * pw * C); continue; }
    int64_t c0 = pl > 0 ? pl : 0, c1 = pl + W < pw ? pl + W : pw; // columns of row holding image pixels
    if (c0 > 0) memset(row, 0, sizeof(float) * c0 * C);
    if (c1 > c0) memcpy(row + c0 * C, x + (iy * W + (c0 - pl)) * C, sizeof(float) * (c1 - c0) * C);
    if (c1 < pw) memset(row + (c1 > c0 ? c1 : c0) * C, 0, sizeof(float) * (pw - (c1 > c0 ? c1 : c0)) * C);
  }
}

// y [B, oh, ow, oc] = act(conv(x [B, H, W, ic], w [fh, fw, ic, oc]) + bias), stride (sh, sw), top/left pads.
static bool run(int64_t B, const float *x, int64_t H, int64_t W, int64_t ic, const float *w, int64_t fh, int64_t fw,
                int64_t sh, int64_t sw, int64_t pt, int64_t pl, const float *bias, bool relu, float *y, int64_t oh, int64_t ow, int64_t oc) {
  int64_t ph = (oh - 1) * sh + fh, pw = (ow - 1) * sw + fw;
  float *xp = malloc(sizeof(float) * ph * pw * ic);
  if (!xp) return false;
  for (int64_t b = 0; b < B; b++) {
    pad_image(x + b * H * W * ic, H, W, ic, pt, pl, ph, pw, xp);
    image_avx2(xp, pw, ic, fh, fw, sh, sw, w, oc, bias, relu, y + b * oh * ow * oc, oh, ow);
  }
  free(xp);
  return true;
}

bool direct_conv_forward(const Geometry *g, const float *x, const float *w, const float *bias, bool relu, float *y) {
  if (!has_avx2_fma() || g->dh != 1 || g->dw != 1 || g->oc % 8 != 0) return false;
  return run(g->batch, x + 0, g->ih, g->iw, g->ic, w, g->fh, g->fw, g->sh, g->sw, g->pt, g->pl, bias, relu, y, g->oh, g->ow, g->oc);
}

bool direct_conv_input_grad(const Geometry *g, const float *dy, const float *w, float *dx) {
  if (!has_avx2_fma() || g->dh != 1 || g->dw != 1 || g->sh != 1 || g->sw != 1 || g->ic % 8 != 0) return false;
  // wt[fh−1−ky, fw−1−kx, o, c] = w[ky, kx, c, o]: dx[iy, ix, c] = Σ dy[iy − (fh−1−pt) + ky', ...] · wt[ky', kx', o, c]
  int64_t taps = g->fh * g->fw;
  float *wt = malloc(sizeof(float) * taps * g->ic * g->oc);
  if (!wt) return false;
  for (int64_t t = 0; t < taps; t++)
    for (int64_t c = 0; c < g->ic; c++)
      for (int64_t o = 0; o < g->oc; o++) wt[((taps - 1 - t) * g->oc + o) * g->ic + c] = w[(t * g->ic + c) * g->oc + o];
  bool ok = run(g->batch, dy, g->oh, g->ow, g->oc, wt, g->fh, g->fw, 1, 1, g->fh - 1 - g->pt, g->fw - 1 - g->pl, NULL, false, dx, g->ih, g->iw, g->ic);
  free(wt);
  return ok;
}

#else
bool direct_conv_forward(const Geometry *g, const float *x, const float *w, const float *bias, bool relu, float *y) {
  (void)g; (void)x; (void)w; (void)bias; (void)relu; (void)y;
  return false;
}
bool direct_conv_input_grad(const Geometry *g, const float *dy, const float *w, float *dx) {
  (void)g; (void)dy; (void)w; (void)dx;
  return false;
}
#endif
