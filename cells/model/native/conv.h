// The geometry of one NHWC convolution, shared by conv.c (im2col + sgemm, depthwise loops) and
// conv-direct.c (the direct SIMD kernel). Sizes and offsets in floats; see conv.c for the calling convention.
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  int64_t mode, batch, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, dh, dw, pt, pl, x, w, y;
} Geometry;

/**
 * y = act(conv(x, w) + bias) by the direct kernel (bias may be NULL; relu or identity). Returns false,
 * having written nothing, where it does not apply: no AVX2 + FMA on this CPU, dilation, or outC not a
 * multiple of 8; the caller then takes the im2col path.
 */
bool direct_conv_forward(const Geometry *g, const float *x, const float *w, const float *bias, bool relu, float *y);

/**
 * dx = the input gradient: at stride 1 a forward convolution of dy with the filter flipped in space and
 * transposed in channels, at other strides each output pixel's dy spread back over its taps. Conditions as
 * direct_conv_forward but on inC (a multiple of 8); false when it does not apply.
 */
bool direct_conv_input_grad(const Geometry *g, const float *dy, const float *w, float *dx);

/** dw = the filter gradient (sums over the batch in double, rounded once); same conditions as the forward. */
bool direct_conv_filter_grad(const Geometry *g, const float *x, const float *dy, float *dw);
