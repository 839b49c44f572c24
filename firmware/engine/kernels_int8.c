/* kernels_int8.c: int8 operators, bit-exact with LiteRT's reference kernels (see kernels_int8.h); the
 * convolutions are in kernels_conv.c. */
#include "kernels_int8.h"

#include <string.h>

#include "kernels_fixed.h"

int32_t kws_requantize(int32_t x, int32_t multiplier, int32_t shift) {
#if KWS_ROUNDING_DOUBLE
  return requantize_double(x, multiplier, shift);
#else
  return requantize_single(x, multiplier, shift);
#endif
}

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

/* LiteRT's rounding of an average: half away from zero */
static inline int32_t pool_average(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* the whole map into one value a channel (global average pooling: one output position, the window covers the
 * input, every position counted); up to 256 positions the sums fit 16-bit lanes: 4 channels per word */
static void global_average_pool(const kws_pool_params_t *p, kws_dims_t in_dims, const int8_t *in, int8_t *out) {
  const int32_t count = in_dims.h * in_dims.w, channels = in_dims.c;
  int32_t c = 0, i;
#if KWS_SIMD
  if ((channels & 3) == 0 && count <= 256 && ((uintptr_t)in & 3) == 0) {
    for (; c < channels; c += 4) {
      const int8_t *x = in + c;
      uint32_t s02 = 0, s13 = 0, v;
      for (i = 0; i < count; ++i, x += channels) {
        memcpy(&v, x, 4);
        s02 = __sxtab16(s02, v);
        s13 = sxtab16_ror8(s13, v);
      }
      out[c] = (int8_t)clamp(pool_average((int16_t)(s02 & 0xffff), count), p->act_min, p->act_max);
      out[c + 1] = (int8_t)clamp(pool_average((int16_t)(s13 & 0xffff), count), p->act_min, p->act_max);
      out[c + 2] = (int8_t)clamp(pool_average((int16_t)(s02 >> 16), count), p->act_min, p->act_max);
      out[c + 3] = (int8_t)clamp(pool_average((int16_t)(s13 >> 16), count), p->act_min, p->act_max);
    }
  }
#endif
  for (; c < channels; ++c) {
    int32_t sum = 0;
    for (i = 0; i < count; ++i) sum += in[(size_t)i * channels + c];
    out[c] = (int8_t)clamp(pool_average(sum, count), p->act_min, p->act_max);
  }
}

void kws_average_pool_s8(const kws_pool_params_t *p, kws_dims_t in_dims, const int8_t *in, kws_dims_t out_dims,
                         int8_t *out) {
  int32_t oy, ox, c, y, x;
  if (out_dims.h == 1 && out_dims.w == 1 && p->pad_top == 0 && p->pad_left == 0 && p->filter_h >= in_dims.h &&
      p->filter_w >= in_dims.w) {
    global_average_pool(p, in_dims, in, out);
    return;
  }
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
        out[((size_t)oy * out_dims.w + ox) * out_dims.c + c] = (int8_t)clamp(pool_average(acc, count), p->act_min,
                                                                             p->act_max);
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
