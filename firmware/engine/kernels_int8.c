/* kernels_int8.c: int8 operators, bit-exact with LiteRT's reference kernels (see kernels_int8.h). */
#include "kernels_int8.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !(defined(KWS_NO_SIMD) && KWS_NO_SIMD)
#include <arm_acle.h>
#define KWS_SIMD 1
#else
#define KWS_SIMD 0
#endif

/* where patch value k lives: pairs (k, k+2) and (k+1, k+3) in the SIMD build, plain order otherwise */
#if KWS_SIMD
#define KWS_PATCH_INDEX(k) (((k) & ~3) | (((k) & 1) << 1) | (((k) & 2) >> 1))
#else
#define KWS_PATCH_INDEX(k) (k)
#endif

/* ------------------------------------------------------------------ fixed-point arithmetic */

/* gemmlowp: (a * b * 2) / 2^32, rounded half away from zero, saturating the one overflow case */
static int32_t srdhm(int32_t a, int32_t b) {
  int64_t ab, nudged;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * b;
  nudged = ab + (ab >= 0 ? (1 << 30) : (1 - (1 << 30)));
  /* gemmlowp divides by 2^31 truncating toward zero; a shift with a bias for negatives does the same
   * without a 64-bit division (a library call on Cortex-M) */
  if (nudged < 0) nudged += ((int64_t)1 << 31) - 1;
  return (int32_t)(nudged >> 31);
}

/* gemmlowp: x / 2^exponent rounded half away from zero */
static int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* LiteRT single rounding: (x * m + 2^(30 - shift)) >> (31 - shift) in 64 bits */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static int32_t requantize_single(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
}

/* gemmlowp double rounding: doubling high multiply, then a rounding shift */
static int32_t requantize_double(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

int32_t kws_requantize(int32_t x, int32_t multiplier, int32_t shift) {
#if KWS_ROUNDING_DOUBLE
  return requantize_double(x, multiplier, shift);
#else
  return requantize_single(x, multiplier, shift);
#endif
}

/* Convolutions: LiteRT 2.3's reference CONV_2D / DEPTHWISE_CONV_2D kernels requantize with double
 * rounding (measured against BUILTIN_REF on every element), as TFLM does: both modes round twice. */
static int32_t requantize_conv(int32_t x, int32_t multiplier, int32_t shift) {
  return requantize_double(x, multiplier, shift);
}

/* LiteRT 2.3's reference MEAN rescales with gemmlowp double rounding in either build (measured) */
static int32_t requantize_mean(int32_t x, int32_t multiplier, int32_t shift) {
  return requantize_double(x, multiplier, shift);
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* ------------------------------------------------------------------ dot products */

int32_t kws_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset) {
  int32_t acc = 0, i = 0;
#if KWS_SIMD
  /* two 16-bit lanes: bytes 0 and 2, then 1 and 3, sign-extended; the input offset is added to the
   * lanes by SXTAB16 ((x + offset) fits 16 bits); SMLAD adds both lane products to acc exactly */
  const uint32_t offsets = ((uint32_t)(uint16_t)x_offset << 16) | (uint16_t)x_offset;
  for (; i + 4 <= n; i += 4) {
    uint32_t xv, wv;
    memcpy(&xv, x + i, 4);
    memcpy(&wv, w + i, 4);
    acc = __smlad(__sxtab16(offsets, xv), __sxtb16(wv), acc);
    /* rotate by 8 to reach bytes 1 and 3 (the compiler folds it into SXTB16/SXTAB16's ROR #8) */
    acc = __smlad(__sxtab16(offsets, (xv >> 8) | (xv << 24)), __sxtb16((wv >> 8) | (wv << 24)), acc);
  }
#endif
  for (; i < n; ++i) acc += (int32_t)w[i] * ((int32_t)x[i] + x_offset);
  return acc;
}

/* ------------------------------------------------------------------ convolutions */

/* CONV_2D: per output pixel, the input patch (filter_h x filter_w x in_c values k, input offset added, 0
 * where the filter hangs over the border: the reference kernel skips those taps) is gathered once into
 * `patch` as 16-bit values; then each block of 4 output channels is a dot product of the patch with the
 * block's weights. The generator stores the weights blocked (kws_conv_weight_index): for each block of 4
 * output channels and each group of 4 values k, the 4 channels' 4 bytes follow each other, so the SIMD inner
 * loop reads 16 consecutive bytes per group. SIMD layout of the patch: values (k, k+2) and (k+1, k+3) share a
 * 32-bit word, the lanes SXTB16 makes of a weight word: LDR, SXTB16 x2, SMLAD x2 per 4 MACs and channel. */
#if KWS_SIMD
static inline uint32_t sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

static inline uint32_t sxtab16_ror8(uint32_t a, uint32_t x) {
  uint32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
  return r;
}
#endif

static void conv_fill_patch(const kws_conv_params_t *p, kws_dims_t in_dims, const int8_t *in, int32_t filter_h,
                            int32_t filter_w, int32_t y0, int32_t x0, int16_t *patch, int32_t padded) {
  const int32_t in_c = in_dims.c;
  int32_t fy, fx, c, k = 0;
  for (fy = 0; fy < filter_h; ++fy) {
    const int32_t y = y0 + fy * p->dilation_h;
    const int row_inside = y >= 0 && y < in_dims.h;
#if KWS_SIMD
    const int32_t run = filter_w * in_c;
    if (row_inside && p->dilation_w == 1 && (run & 3) == 0 && (k & 3) == 0 && x0 >= 0 && x0 + filter_w <= in_dims.w) {
      /* whole words: one load, two SXTAB16 (offset added), two stores per 4 values */
      const int8_t *src = in + ((size_t)y * in_dims.w + x0) * in_c;
      const uint32_t offsets = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
      int32_t i;
      for (i = 0; i < run; i += 4, k += 4) {
        uint32_t v, lo, hi;
        memcpy(&v, src + i, 4);
        lo = __sxtab16(offsets, v);
        hi = sxtab16_ror8(offsets, v);
        memcpy(patch + k, &lo, 4);
        memcpy(patch + k + 2, &hi, 4);
      }
      continue;
    }
#endif
    for (fx = 0; fx < filter_w; ++fx) {
      const int32_t x = x0 + fx * p->dilation_w;
      if (!row_inside || x < 0 || x >= in_dims.w) {
        for (c = 0; c < in_c; ++c, ++k) patch[KWS_PATCH_INDEX(k)] = 0;
      } else {
        const int8_t *src = in + ((size_t)y * in_dims.w + x) * in_c;
        for (c = 0; c < in_c; ++c, ++k) patch[KWS_PATCH_INDEX(k)] = (int16_t)(src[c] + p->input_offset);
      }
    }
  }
  for (; k < padded; ++k) patch[KWS_PATCH_INDEX(k)] = 0;
}

/* acc[j] = dot(patch, weights of channel 4 * block + j) over `groups` groups of 4 values */
static void conv_dot_block(const int16_t *patch, const int8_t *block, int32_t groups, int32_t *acc) {
#if KWS_SIMD
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  const int8_t *end = block + 16 * groups;
  for (; block < end; block += 16, patch += 4) {
    uint32_t p02, p13, w0, w1, w2, w3;
    memcpy(&p02, patch, 4);
    memcpy(&p13, patch + 2, 4);
    memcpy(&w0, block, 4);
    memcpy(&w1, block + 4, 4);
    memcpy(&w2, block + 8, 4);
    memcpy(&w3, block + 12, 4);
    a0 = __smlad(p02, __sxtb16(w0), a0);
    a0 = __smlad(p13, sxtb16_ror8(w0), a0);
    a1 = __smlad(p02, __sxtb16(w1), a1);
    a1 = __smlad(p13, sxtb16_ror8(w1), a1);
    a2 = __smlad(p02, __sxtb16(w2), a2);
    a2 = __smlad(p13, sxtb16_ror8(w2), a2);
    a3 = __smlad(p02, __sxtb16(w3), a3);
    a3 = __smlad(p13, sxtb16_ror8(w3), a3);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
#else
  int32_t g, j, t;
  acc[0] = acc[1] = acc[2] = acc[3] = 0;
  for (g = 0; g < groups; ++g) {
    for (j = 0; j < 4; ++j) {
      for (t = 0; t < 4; ++t) acc[j] += (int32_t)patch[4 * g + t] * block[16 * g + 4 * j + t];
    }
  }
#endif
}

void kws_conv2d_s8(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                   kws_dims_t in_dims, const int8_t *in, int32_t filter_h, int32_t filter_w,
                   const int8_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *out, int16_t *patch) {
  const int32_t padded = KWS_CONV_PATCH_VALUES(filter_h * filter_w * in_dims.c), groups = padded / 4;
  int32_t oy, ox, oc;
  for (oy = 0; oy < out_dims.h; ++oy) {
    for (ox = 0; ox < out_dims.w; ++ox) {
      int8_t *o = out + ((size_t)oy * out_dims.w + ox) * out_dims.c;
      conv_fill_patch(p, in_dims, in, filter_h, filter_w, oy * p->stride_h - p->pad_top, ox * p->stride_w - p->pad_left,
                      patch, padded);
      for (oc = 0; oc < out_dims.c; oc += 4) {
        int32_t acc[4], j;
        conv_dot_block(patch, filter + (size_t)oc * padded, groups, acc);
        for (j = 0; j < 4 && oc + j < out_dims.c; ++j) {
          int32_t v = acc[j] + (bias ? bias[oc + j] : 0);
          v = requantize_conv(v, multipliers[oc + j], shifts[oc + j]) + p->output_offset;
          o[oc + j] = (int8_t)clamp(v, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* One output row of DEPTHWISE_CONV_2D from the input rows under the filter (rows[fy], NULL outside). */
static void depthwise_row(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                          kws_dims_t in_dims, const int8_t *const *rows, int32_t filter_h, int32_t filter_w,
                          const int8_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *o) {
  const int32_t out_c = out_dims.c, mult = p->depth_multiplier;
  int32_t ox, oc, fy, fx;
  for (ox = 0; ox < out_dims.w; ++ox, o += out_c) {
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    const int32_t fx_first = x0 < 0 ? (-x0 + p->dilation_w - 1) / p->dilation_w : 0;
    int32_t fx_end = filter_w;
    while (fx_end > fx_first && x0 + (fx_end - 1) * p->dilation_w >= in_dims.w) --fx_end;
    oc = 0;
#if KWS_SIMD
    if (mult == 1 && (out_c & 3) == 0) {
      /* four channels per word: SMLABB / SMLATT keep the lanes apart */
      const uint32_t offsets = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
      const size_t x_step = (size_t)p->dilation_w * in_dims.c;
      for (; oc < out_c; oc += 4) {
        /* scalar accumulators stay in registers (an array would live on the stack) */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, j, acc[4];
        for (fy = 0; fy < filter_h; ++fy) {
          const int8_t *x_ptr, *w_ptr;
          int32_t taps = fx_end - fx_first;
          if (!rows[fy] || taps <= 0) continue;
          x_ptr = rows[fy] + oc + (size_t)(x0 + fx_first * p->dilation_w) * in_dims.c;
          w_ptr = filter + ((size_t)fy * filter_w + fx_first) * out_c + oc;
          for (; taps > 0; --taps, x_ptr += x_step, w_ptr += out_c) {
            uint32_t xv, wv, x02, x13, w02, w13;
            memcpy(&xv, x_ptr, 4);
            memcpy(&wv, w_ptr, 4);
            x02 = __sxtab16(offsets, xv);
            x13 = sxtab16_ror8(offsets, xv);
            w02 = __sxtb16(wv);
            w13 = sxtb16_ror8(wv);
            a0 = __smlabb(x02, w02, a0);
            a2 = __smlatt(x02, w02, a2);
            a1 = __smlabb(x13, w13, a1);
            a3 = __smlatt(x13, w13, a3);
          }
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        for (j = 0; j < 4; ++j) {
          int32_t v = acc[j] + (bias ? bias[oc + j] : 0);
          v = requantize_conv(v, multipliers[oc + j], shifts[oc + j]) + p->output_offset;
          o[oc + j] = (int8_t)clamp(v, p->act_min, p->act_max);
        }
      }
    }
#endif
    for (; oc < out_c; ++oc) {
      const int32_t ic = mult == 1 ? oc : oc / mult;
      int32_t acc = 0;
      for (fy = 0; fy < filter_h; ++fy) {
        const int8_t *row = rows[fy];
        const int8_t *frow = filter + (size_t)fy * filter_w * out_c + oc;
        if (!row) continue;
        row += ic;
        for (fx = fx_first; fx < fx_end; ++fx) {
          acc += (int32_t)frow[(size_t)fx * out_c] *
                 ((int32_t)row[(size_t)(x0 + fx * p->dilation_w) * in_dims.c] + p->input_offset);
        }
      }
      if (bias) acc += bias[oc];
      acc = requantize_conv(acc, multipliers[oc], shifts[oc]) + p->output_offset;
      o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
    }
  }
}

void kws_depthwise_conv2d_s8(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                             kws_dims_t in_dims, const int8_t *in, int32_t filter_h, int32_t filter_w,
                             const int8_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *out,
                             int8_t *rows_scratch) {
  const size_t row_bytes = (size_t)in_dims.w * in_dims.c;
  const int32_t cached = p->pad_top; /* in place: input rows above the current one, kept in a ring */
  int8_t *const temp = rows_scratch ? rows_scratch + (size_t)cached * row_bytes : NULL;
  const int8_t *rows[KWS_DEPTHWISE_MAX_FILTER_H];
  int32_t oy, fy;
  for (oy = 0; oy < out_dims.h; ++oy) {
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    for (fy = 0; fy < filter_h; ++fy) {
      const int32_t y = y0 + fy * p->dilation_h;
      if (y < 0 || y >= in_dims.h) {
        rows[fy] = NULL;
      } else if (rows_scratch && y < oy) {
        rows[fy] = rows_scratch + (size_t)(y % cached) * row_bytes; /* already overwritten: from the ring */
      } else {
        rows[fy] = in + (size_t)y * row_bytes;
      }
    }
    if (!rows_scratch) {
      depthwise_row(p, multipliers, shifts, in_dims, rows, filter_h, filter_w, filter, bias, out_dims,
                    out + (size_t)oy * out_dims.w * out_dims.c);
    } else {
      /* in place (stride 1, same size): compute the row aside, keep the input row, then overwrite it */
      depthwise_row(p, multipliers, shifts, in_dims, rows, filter_h, filter_w, filter, bias, out_dims, temp);
      if (cached > 0) memcpy(rows_scratch + (size_t)(oy % cached) * row_bytes, in + (size_t)oy * row_bytes, row_bytes);
      memcpy(out + (size_t)oy * row_bytes, temp, row_bytes);
    }
  }
}

/* ------------------------------------------------------------------ fully connected */

void kws_fully_connected_s8(const kws_fc_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                            int32_t batches, int32_t in_depth, const int8_t *in, int32_t out_depth,
                            const int8_t *weights, const int32_t *bias, int8_t *out) {
  int32_t b, u;
  for (b = 0; b < batches; ++b) {
    const int8_t *x = in + (size_t)b * in_depth;
    for (u = 0; u < out_depth; ++u) {
      const int8_t *w = weights + (size_t)u * in_depth;
      int32_t acc;
      if (p->filter_offset == 0) {
        acc = kws_dot_s8(x, w, in_depth, p->input_offset);
      } else {
        int32_t i;
        acc = 0;
        for (i = 0; i < in_depth; ++i) acc += ((int32_t)w[i] + p->filter_offset) * ((int32_t)x[i] + p->input_offset);
      }
      if (bias) acc += bias[u];
      acc = kws_requantize(acc, multipliers[p->per_channel ? u : 0], shifts[p->per_channel ? u : 0]);
      out[(size_t)b * out_depth + u] = (int8_t)clamp(acc + p->output_offset, p->act_min, p->act_max);
    }
  }
}

/* ------------------------------------------------------------------ pooling and reductions */

void kws_average_pool_s8(const kws_pool_params_t *p, kws_dims_t in_dims, const int8_t *in, kws_dims_t out_dims,
                         int8_t *out) {
  int32_t oy, ox, c, y, x;
  for (oy = 0; oy < out_dims.h; ++oy) {
    for (ox = 0; ox < out_dims.w; ++ox) {
      const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
      const int32_t y_first = y0 < 0 ? 0 : y0, x_first = x0 < 0 ? 0 : x0;
      const int32_t y_end = y0 + p->filter_h < in_dims.h ? y0 + p->filter_h : in_dims.h;
      const int32_t x_end = x0 + p->filter_w < in_dims.w ? x0 + p->filter_w : in_dims.w;
      for (c = 0; c < out_dims.c; ++c) {
        int32_t acc = 0, count = 0;
        for (y = y_first; y < y_end; ++y) {
          for (x = x_first; x < x_end; ++x) {
            acc += in[((size_t)y * in_dims.w + x) * in_dims.c + c];
            ++count;
          }
        }
        if (count == 0) count = 1; /* a window outside the image (the generator rejects such shapes) */
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        out[((size_t)oy * out_dims.w + ox) * out_dims.c + c] = (int8_t)clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}

void kws_mean_hw_s8(const kws_mean_params_t *p, kws_dims_t in_dims, const int8_t *in, int8_t *out) {
  const int32_t count = in_dims.h * in_dims.w;
  int32_t c, i;
  for (c = 0; c < in_dims.c; ++c) {
    int32_t sum = 0;
    for (i = 0; i < count; ++i) sum += in[(size_t)i * in_dims.c + c];
    sum -= p->input_zero_point * count;
    out[c] = (int8_t)clamp(requantize_mean(sum, p->multiplier, p->shift) + p->output_zero_point, -128, 127);
  }
}

/* ------------------------------------------------------------------ softmax (gemmlowp fixed point) */

/* saturating x * 2^exponent for exponent > 0; rounding shift for exponent < 0 */
static int32_t mul_by_pot(int32_t x, int32_t exponent) {
  if (exponent > 0) {
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
  }
  return exponent < 0 ? rounding_divide_by_pot(x, -exponent) : x;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8 */
static int32_t exp_quarter(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668, one_third = 715827883;
  const int32_t x = a + (1 << 28);
  const int32_t x2 = srdhm(x, x), x3 = srdhm(x2, x), x4 = srdhm(x2, x2);
  const int32_t x4_over_4 = rounding_divide_by_pot(x4, 2);
  const int32_t poly = rounding_divide_by_pot(srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return exp_minus_one_eighth + srdhm(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0, a in Q5.26 (5 integer bits), result Q0.31 */
static int32_t exp_negative_q5(int32_t a) {
  static const int32_t multipliers[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t fractional_bits = 26, one_quarter = 1 << (fractional_bits - 2);
  const int32_t a_mod = (a & (one_quarter - 1)) - one_quarter;
  int32_t result = exp_quarter(mul_by_pot(a_mod, 5));
  const int32_t remainder = a_mod - a;
  int32_t k;
  for (k = 0; k < 7; ++k) { /* exp(-2^(k-2)) for each set bit of the remainder */
    if (remainder & (1 << (fractional_bits - 2 + k))) result = srdhm(result, multipliers[k]);
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31, by Newton-Raphson (gemmlowp's constants 48/17 and -32/17, Q2.29) */
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = (int64_t)a + INT32_MAX;
  const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = 1515870810 + srdhm(half_denominator, -1010580540);
  int k;
  for (k = 0; k < 3; ++k) {
    const int32_t product = srdhm(half_denominator, x);
    const int32_t one_minus = (1 << 29) - product;
    x = x + mul_by_pot(srdhm(x, one_minus), 2);
  }
  return mul_by_pot(x, 1);
}

static int32_t softmax_rescale_input(int32_t diff, int32_t multiplier, int32_t left_shift) {
#if KWS_ROUNDING_DOUBLE
  return srdhm((int32_t)((uint32_t)diff << left_shift), multiplier);
#else
  return requantize_single(diff, multiplier, left_shift);
#endif
}

void kws_softmax_s8(const kws_softmax_params_t *p, int32_t rows, int32_t depth, const int8_t *in, int8_t *out) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const int8_t *x = in + (size_t)r * depth;
    int8_t *y = out + (size_t)r * depth;
    int32_t max_value = -128, sum = 0, headroom, bits_over_unit, scale;
    for (c = 0; c < depth; ++c) max_value = x[c] > max_value ? x[c] : max_value;
    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_value;
      if (diff >= p->diff_min) {
        const int32_t e = exp_negative_q5(softmax_rescale_input(diff, p->input_multiplier, p->input_left_shift));
        sum += rounding_divide_by_pot(e, 12); /* Q0.31 -> Q12.19 accumulator */
      }
    }
    /* reciprocal of the sum: normalise into [1, 2), then 1 / (1 + x) */
    headroom = sum == 0 ? 32 : __builtin_clz((uint32_t)sum);
    bits_over_unit = 12 - headroom;
    scale = one_over_one_plus_x((int32_t)(((uint32_t)sum << headroom) - (1u << 31)));
    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_value;
      if (diff >= p->diff_min) {
        const int32_t e = exp_negative_q5(softmax_rescale_input(diff, p->input_multiplier, p->input_left_shift));
        const int32_t unsaturated = rounding_divide_by_pot(srdhm(scale, e), bits_over_unit + 31 - 8);
        y[c] = (int8_t)clamp(unsaturated - 128, -128, 127);
      } else {
        y[c] = -128;
      }
    }
  }
}

/* ------------------------------------------------------------------ elementwise */

void kws_add_s8(const kws_add_params_t *p, int32_t size, const int8_t *in1, const int8_t *in2, int8_t *out) {
  int32_t i;
  for (i = 0; i < size; ++i) {
    const int32_t a = (int32_t)((uint32_t)(p->input1_offset + in1[i]) << p->left_shift);
    const int32_t b = (int32_t)((uint32_t)(p->input2_offset + in2[i]) << p->left_shift);
    const int32_t sa = kws_requantize(a, p->input1_multiplier, p->input1_shift);
    const int32_t sb = kws_requantize(b, p->input2_multiplier, p->input2_shift);
    const int32_t sum = kws_requantize(sa + sb, p->output_multiplier, p->output_shift) + p->output_offset;
    out[i] = (int8_t)clamp(sum, p->act_min, p->act_max);
  }
}

void kws_copy_s8(int32_t size, const int8_t *in, int8_t *out) {
  if (in != out) memmove(out, in, (size_t)size);
}
