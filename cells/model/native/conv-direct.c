// A direct NHWC convolution for the small channel counts of CIFAR-sized CNNs (3 to 64 channels), where
// im2col + sgemm is a poor fit: the product is thin (16–64 columns), and the patch copy costs as much as
// the arithmetic. Measured against PyTorch's oneDNN in bench/resnet.ts (bench/README.md).
//
// Each image is first copied into a zero-padded scratch image (so the inner loops never test borders),
// then every tile of 6 consecutive output pixels × 16 output channels keeps its 12 accumulators in AVX
// registers while the loop runs over the taps and input channels: per input value one broadcast and two
// fused multiply-adds per output pixel. The sums run in the order (ky, kx, input channel), starting from
// the bias. The addon is built without -march (it must load on any x86-64), so the kernel is compiled
// for AVX2 + FMA with a target attribute and chosen at run time; elsewhere the callers keep im2col. The
// forward and the gradients split the batch over setThreads' threads; the filter gradient's sum over the
// batch still runs in image order, so no value depends on the thread count.
#include "conv.h"
#include "native.h"
#include <pthread.h>
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

// One tile: np (≤ 6) output pixels × nv (1 or 2) vectors of 8 output channels; xs[p] is where pixel p's
// window starts in the padded image. Inlined with constant np and nv, so the accumulator arrays become
// registers.
__attribute__((target("avx2,fma"), always_inline)) static inline void tile(
    const float *const *xs, int64_t rowstep, const float *w, int64_t oc, int64_t ic, int64_t fh, int64_t fw,
    const float *bias, bool relu, float *ys, int np, int nv) {
  __m256 acc[TILE][2];
  for (int v = 0; v < nv; v++) {
    __m256 b0 = bias ? _mm256_loadu_ps(bias + 8 * v) : _mm256_setzero_ps();
    for (int p = 0; p < np; p++) acc[p][v] = b0;
  }
  for (int64_t ky = 0; ky < fh; ky++)
    for (int64_t kx = 0; kx < fw; kx++) {
      int64_t off = ky * rowstep + kx * ic;
      const float *wk = w + (ky * fw + kx) * ic * oc;
      for (int64_t c = 0; c < ic; c++) {
        __m256 wv[2];
        for (int v = 0; v < nv; v++) wv[v] = _mm256_loadu_ps(wk + c * oc + 8 * v);
        for (int p = 0; p < np; p++) {
          __m256 xb = _mm256_broadcast_ss(xs[p] + off + c);
          for (int v = 0; v < nv; v++) acc[p][v] = _mm256_fmadd_ps(xb, wv[v], acc[p][v]);
        }
      }
    }
  __m256 zero = _mm256_setzero_ps();
  for (int p = 0; p < np; p++)
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(ys + p * oc + 8 * v, relu ? _mm256_max_ps(acc[p][v], zero) : acc[p][v]);
}

#define TILE_CASE(NP, NV) tile(xs, rowstep, w + o, oc, ic, fh, fw, bias ? bias + o : NULL, relu, ys + o, NP, NV)
#define TILE_ROW(NV) switch (np) { \
  case 6: TILE_CASE(6, NV); break; case 5: TILE_CASE(5, NV); break; case 4: TILE_CASE(4, NV); break; \
  case 3: TILE_CASE(3, NV); break; case 2: TILE_CASE(2, NV); break; default: TILE_CASE(1, NV); break; }

// One image's output from its padded copy xp (row stride pw pixels). Tiles run over the output pixels in
// raster order across row ends (an 8-pixel row would otherwise leave a 2-pixel tile); every output's sum is
// the same whatever tile it falls in.
__attribute__((target("avx2,fma"))) static void image_avx2(
    const float *xp, int64_t pw, int64_t ic, int64_t fh, int64_t fw, int64_t sh, int64_t sw,
    const float *w, int64_t oc, const float *bias, bool relu, float *y, int64_t oh, int64_t ow) {
  int64_t rowstep = pw * ic, pixels = oh * ow;
  for (int64_t q = 0; q < pixels; q += TILE) {
    int np = pixels - q < TILE ? (int)(pixels - q) : TILE;
    const float *xs[TILE];
    for (int p = 0; p < np; p++) {
      int64_t oy = (q + p) / ow, ox = (q + p) % ow;
      xs[p] = xp + (oy * sh * pw + ox * sw) * ic;
    }
    float *ys = y + q * oc;
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

// ---- images in parallel. Each image's result is computed the same way whichever thread computes it, so
// the thread count never changes a value. Threads: the addon's setThreads limit (kernel_threads), for
// calls with at least PARALLEL_WORK multiply-adds (below that, starting a thread costs more than it saves).
#define PARALLEL_WORK (4.0 * 1024 * 1024)
#define MAX_THREADS 8
typedef void (*range_fn)(void *ctx, int64_t b0, int64_t b1, bool *ok);
typedef struct { range_fn fn; void *ctx; int64_t b0, b1; bool ok; } Slice;

static void *slice_main(void *p) {
  Slice *s = p;
  s->fn(s->ctx, s->b0, s->b1, &s->ok);
  return NULL;
}

static int threads_for(int64_t batch, double work) {
  int n = kernel_threads();
  if (n > MAX_THREADS) n = MAX_THREADS;
  if (n > batch) n = (int)batch;
  return work < PARALLEL_WORK || n < 1 ? 1 : n;
}

static bool over_images(range_fn fn, void *ctx, int64_t batch, double work) {
  int n = threads_for(batch, work);
  Slice s[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  bool started[MAX_THREADS] = { false };
  for (int i = 0; i < n; i++) s[i] = (Slice){ fn, ctx, batch * i / n, batch * (i + 1) / n, true };
  for (int i = 1; i < n; i++) started[i] = pthread_create(&th[i], NULL, slice_main, &s[i]) == 0;
  slice_main(&s[0]);
  bool ok = s[0].ok;
  for (int i = 1; i < n; i++) {
    if (started[i]) pthread_join(th[i], NULL);
    else slice_main(&s[i]); // no thread to be had: this one does the slice
    ok = ok && s[i].ok;
  }
  return ok;
}

// y [B, oh, ow, oc] = act(conv(x [B, H, W, ic], w [fh, fw, ic, oc]) + bias), stride (sh, sw), top/left pads.
typedef struct {
  const float *x; int64_t H, W, ic; const float *w; int64_t fh, fw, sh, sw, pt, pl;
  const float *bias; bool relu; float *y; int64_t oh, ow, oc;
} Conv;

static void conv_range(void *ctx, int64_t b0, int64_t b1, bool *ok) {
  const Conv *c = ctx;
  int64_t ph = (c->oh - 1) * c->sh + c->fh, pw = (c->ow - 1) * c->sw + c->fw;
  float *xp = malloc(sizeof(float) * ph * pw * c->ic);
  if (!xp) { *ok = false; return; }
  for (int64_t b = b0; b < b1; b++) {
    pad_image(c->x + b * c->H * c->W * c->ic, c->H, c->W, c->ic, c->pt, c->pl, ph, pw, xp);
    image_avx2(xp, pw, c->ic, c->fh, c->fw, c->sh, c->sw, c->w, c->oc, c->bias, c->relu, c->y + b * c->oh * c->ow * c->oc, c->oh, c->ow);
  }
  free(xp);
}

static bool run(int64_t B, const float *x, int64_t H, int64_t W, int64_t ic, const float *w, int64_t fh, int64_t fw,
                int64_t sh, int64_t sw, int64_t pt, int64_t pl, const float *bias, bool relu, float *y, int64_t oh, int64_t ow, int64_t oc) {
  Conv c = { x, H, W, ic, w, fh, fw, sh, sw, pt, pl, bias, relu, y, oh, ow, oc };
  return over_images(conv_range, &c, B, (double)B * oh * ow * oc * fh * fw * ic);
}

bool direct_conv_forward(const Geometry *g, const float *x, const float *w, const float *bias, bool relu, float *y) {
  if (!has_avx2_fma() || g->dh != 1 || g->dw != 1 || g->oc % 8 != 0) return false;
  return run(g->batch, x + 0, g->ih, g->iw, g->ic, w, g->fh, g->fw, g->sh, g->sw, g->pt, g->pl, bias, relu, y, g->oh, g->ow, g->oc);
}

// ---- filter gradient: dw[ky, kx, c, o] = Σ over the batch's output pixels of x(pixel, tap)[c] · dy[pixel, o].
// A tile keeps 6 input channels × 16 output channels of one tap in registers over an image's output pixels:
// per pixel two loads of dy and six broadcasts of x for 12 fused multiply-adds.
__attribute__((target("avx2,fma"), always_inline)) static inline void dw_tile(
    const float *xs, int64_t xstep, int64_t rowstep, const float *dy, int64_t oc, int64_t oh, int64_t ow,
    float *out, int64_t ic, int nc, int nv) {
  __m256 acc[TILE][2];
  for (int c = 0; c < nc; c++)
    for (int v = 0; v < nv; v++) acc[c][v] = _mm256_setzero_ps();
  for (int64_t oy = 0; oy < oh; oy++) {
    const float *xr = xs + oy * rowstep;
    const float *dr = dy + oy * ow * oc;
    for (int64_t ox = 0; ox < ow; ox++, xr += xstep, dr += oc) {
      __m256 d[2];
      for (int v = 0; v < nv; v++) d[v] = _mm256_loadu_ps(dr + 8 * v);
      for (int c = 0; c < nc; c++) {
        __m256 xb = _mm256_broadcast_ss(xr + c);
        for (int v = 0; v < nv; v++) acc[c][v] = _mm256_fmadd_ps(xb, d[v], acc[c][v]);
      }
    }
  }
  for (int c = 0; c < nc; c++)
    for (int v = 0; v < nv; v++) _mm256_storeu_ps(out + c * oc + 8 * v, acc[c][v]);
  (void)ic;
}

#define DW_CASE(NC, NV) dw_tile(xs, xstep, rowstep, dy + o, oc, oh, ow, part + ((t * ic) + c0) * oc + o, ic, NC, NV)
#define DW_ROW(NV) switch (nc) { \
  case 6: DW_CASE(6, NV); break; case 5: DW_CASE(5, NV); break; case 4: DW_CASE(4, NV); break; \
  case 3: DW_CASE(3, NV); break; case 2: DW_CASE(2, NV); break; default: DW_CASE(1, NV); break; }

// One image's filter gradient into part [fh, fw, ic, oc] (overwritten).
__attribute__((target("avx2,fma"))) static void dw_image_avx2(
    const float *xp, int64_t pw, int64_t ic, int64_t fh, int64_t fw, int64_t sh, int64_t sw,
    const float *dy, int64_t oc, int64_t oh, int64_t ow, float *part) {
  int64_t xstep = sw * ic, rowstep = sh * pw * ic;
  for (int64_t ky = 0; ky < fh; ky++)
    for (int64_t kx = 0; kx < fw; kx++) {
      int64_t t = ky * fw + kx;
      for (int64_t c0 = 0; c0 < ic; c0 += TILE) {
        int nc = ic - c0 < TILE ? (int)(ic - c0) : TILE;
        const float *xs = xp + (ky * pw + kx) * ic + c0;
        int64_t o = 0;
        for (; o + 16 <= oc; o += 16) DW_ROW(2)
        if (o < oc) DW_ROW(1)
      }
    }
}

// The partial filter gradients of images [b0, b1): image b's into parts + (b − first)·n.
typedef struct { const Geometry *g; const float *x, *dy; float *parts; int64_t first; } FilterGrad;

static void filter_grad_range(void *ctx, int64_t b0, int64_t b1, bool *ok) {
  const FilterGrad *f = ctx;
  const Geometry *g = f->g;
  int64_t ph = (g->oh - 1) * g->sh + g->fh, pw = (g->ow - 1) * g->sw + g->fw, n = g->fh * g->fw * g->ic * g->oc;
  float *xp = malloc(sizeof(float) * ph * pw * g->ic);
  if (!xp) { *ok = false; return; }
  for (int64_t b = b0; b < b1; b++) {
    pad_image(f->x + b * g->ih * g->iw * g->ic, g->ih, g->iw, g->ic, g->pt, g->pl, ph, pw, xp);
    dw_image_avx2(xp, pw, g->ic, g->fh, g->fw, g->sh, g->sw, f->dy + b * g->oh * g->ow * g->oc, g->oc, g->oh, g->ow, f->parts + (b - f->first) * n);
  }
  free(xp);
}

bool direct_conv_filter_grad(const Geometry *g, const float *x, const float *dy, float *dw) {
  if (!has_avx2_fma() || g->dh != 1 || g->dw != 1 || g->oc % 8 != 0) return false;
  int64_t n = g->fh * g->fw * g->ic * g->oc;
  // Each image's sums are float32 (≤ oh·ow terms); the batch's are added in double, in image order, and
  // rounded once. With several threads every image's partial is kept until all are done, so the order (and
  // every value) is the one-thread order.
  int threads = threads_for(g->batch, (double)g->batch * g->oh * g->ow * g->oc * n / g->oc);
  int64_t held = threads > 1 ? g->batch : 1;
  float *parts = malloc(sizeof(float) * n * held);
  double *acc = calloc((size_t)n, sizeof(double));
  bool ok = parts && acc;
  for (int64_t b0 = 0; ok && b0 < g->batch; b0 += held) {
    FilterGrad f = { g, x, dy, parts, b0 };
    if (held > 1) ok = over_images(filter_grad_range, &f, g->batch, PARALLEL_WORK);
    else filter_grad_range(&f, b0, b0 + 1, &ok);
    for (int64_t b = 0; ok && b < held; b++)
      for (int64_t i = 0; i < n; i++) acc[i] += parts[b * n + i];
  }
  if (ok) for (int64_t i = 0; i < n; i++) dw[i] = (float)acc[i];
  free(parts); free(acc);
  return ok;
}

// ---- input gradient at any stride: every output pixel's dy spread back over its taps,
// dxp[oy·sh + ky, ox·sw + kx, c] += Σ_o dy[oy, ox, o] · w[ky, kx, c, o], into a padded scratch image that is
// then cropped. A tile: 6 output pixels × 16 input channels of one tap, the sum over o in registers.
__attribute__((target("avx2,fma"), always_inline)) static inline void dx_tile(
    const float *dr, int64_t oc, const float *wt, int64_t ic, float *xs, int64_t xstep, int np, int nv) {
  __m256 acc[TILE][2];
  for (int p = 0; p < np; p++)
    for (int v = 0; v < nv; v++) acc[p][v] = _mm256_setzero_ps();
  for (int64_t o = 0; o < oc; o++) {
    __m256 wv[2];
    for (int v = 0; v < nv; v++) wv[v] = _mm256_loadu_ps(wt + o * ic + 8 * v);
    for (int p = 0; p < np; p++) {
      __m256 db = _mm256_broadcast_ss(dr + p * oc + o);
      for (int v = 0; v < nv; v++) acc[p][v] = _mm256_fmadd_ps(db, wv[v], acc[p][v]);
    }
  }
  for (int p = 0; p < np; p++)
    for (int v = 0; v < nv; v++) {
      float *t = xs + p * xstep + 8 * v;
      _mm256_storeu_ps(t, _mm256_add_ps(_mm256_loadu_ps(t), acc[p][v]));
    }
}

#define DX_CASE(NP, NV) dx_tile(dr, oc, wt + (t * oc) * ic + c, ic, xs + c, xstep, NP, NV)
#define DX_ROW(NV) switch (np) { \
  case 6: DX_CASE(6, NV); break; case 5: DX_CASE(5, NV); break; case 4: DX_CASE(4, NV); break; \
  case 3: DX_CASE(3, NV); break; case 2: DX_CASE(2, NV); break; default: DX_CASE(1, NV); break; }

__attribute__((target("avx2,fma"))) static void dx_image_avx2(
    const float *dy, int64_t oc, int64_t oh, int64_t ow, const float *wt, int64_t ic, int64_t fh, int64_t fw,
    int64_t sh, int64_t sw, float *xp, int64_t pw) {
  int64_t xstep = sw * ic;
  for (int64_t ky = 0; ky < fh; ky++)
    for (int64_t kx = 0; kx < fw; kx++) {
      int64_t t = ky * fw + kx;
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox += TILE) {
          int np = ow - ox < TILE ? (int)(ow - ox) : TILE;
          const float *dr = dy + (oy * ow + ox) * oc;
          float *xs = xp + ((oy * sh + ky) * pw + ox * sw + kx) * ic;
          int64_t c = 0;
          for (; c + 16 <= ic; c += 16) DX_ROW(2)
          if (c < ic) DX_ROW(1)
        }
    }
}

typedef struct { const Geometry *g; const float *dy; const float *wt; float *dx; int64_t ph, pw; } Scatter;

static void scatter_range(void *ctx, int64_t b0, int64_t b1, bool *ok) {
  const Scatter *s = ctx;
  const Geometry *g = s->g;
  float *xp = malloc(sizeof(float) * s->ph * s->pw * g->ic);
  if (!xp) { *ok = false; return; }
  for (int64_t b = b0; b < b1; b++) {
    memset(xp, 0, sizeof(float) * s->ph * s->pw * g->ic);
    dx_image_avx2(s->dy + b * g->oh * g->ow * g->oc, g->oc, g->oh, g->ow, s->wt, g->ic, g->fh, g->fw, g->sh, g->sw, xp, s->pw);
    for (int64_t iy = 0; iy < g->ih; iy++)
      memcpy(s->dx + (b * g->ih + iy) * g->iw * g->ic, xp + ((iy + g->pt) * s->pw + g->pl) * g->ic, sizeof(float) * g->iw * g->ic);
  }
  free(xp);
}

static bool input_grad_scatter(const Geometry *g, const float *dy, const float *w, float *dx) {
  int64_t taps = g->fh * g->fw, ph = (g->oh - 1) * g->sh + g->fh, pw = (g->ow - 1) * g->sw + g->fw;
  // The padded image must also cover the input rows/columns no window reaches (they get zero gradient).
  if (ph < g->pt + g->ih) ph = g->pt + g->ih;
  if (pw < g->pl + g->iw) pw = g->pl + g->iw;
  if (g->pt < 0 || g->pl < 0) return false;
  float *wt = malloc(sizeof(float) * taps * g->ic * g->oc);
  if (!wt) return false;
  for (int64_t t = 0; t < taps; t++) // wt[t, o, c] = w[t, c, o]
    for (int64_t c = 0; c < g->ic; c++)
      for (int64_t o = 0; o < g->oc; o++) wt[(t * g->oc + o) * g->ic + c] = w[(t * g->ic + c) * g->oc + o];
  Scatter s = { g, dy, wt, dx, ph, pw };
  bool ok = over_images(scatter_range, &s, g->batch, (double)g->batch * g->oh * g->ow * g->oc * taps * g->ic);
  free(wt);
  return ok;
}

bool direct_conv_input_grad(const Geometry *g, const float *dy, const float *w, float *dx) {
  if (!has_avx2_fma() || g->dh != 1 || g->dw != 1 || g->ic % 8 != 0) return false;
  if (g->sh != 1 || g->sw != 1) return input_grad_scatter(g, dy, w, dx);
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
bool direct_conv_filter_grad(const Geometry *g, const float *x, const float *dy, float *dw) {
  (void)g; (void)x; (void)dy; (void)dw;
  return false;
}
bool direct_conv_forward(const Geometry *g, const float *x, const float *w, const float *bias, bool relu, float *y) {
  (void)g; (void)x; (void)w; (void)bias; (void)relu; (void)y;
  return false;
}
bool direct_conv_input_grad(const Geometry *g, const float *dy, const float *w, float *dx) {
  (void)g; (void)dy; (void)w; (void)dx;
  return false;
}
#endif
