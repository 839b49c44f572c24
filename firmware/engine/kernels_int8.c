/* kernels_int8.c: int8 operators, bit-exact with LiteRT's reference kernels (see kernels_int8.h). */
#include "kernels_int8.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !(defined(KWS_NO_SIMD) && KWS_NO_SIMD)
#include <arm_acle.h>
#define KWS_SIMD 1
#else
#define KWS_SIMD 0
#endif

/* where patch value k lives inside its group of 4: (k, k+2) and (k+1, k+3) share a 32-bit word, the lanes
 * SXTB16 makes of a weight word (kept in the portable build too: one layout for both) */
#define KWS_PATCH_LANE(k) ((((k) & 1) << 1) | (((k) & 2) >> 1))

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

/* gemmlowp's double rounding in one 64-bit multiply-accumulate, for a multiplier > 0 and shift <= -2 (the
 * usual case: scale ratios below 1/2). With e = -shift, SRDHM is floor((x*m + 2^30) / 2^31) and the
 * rounding shift floor((y + 2^(e-1) - [y < 0]) / 2^e); floor(floor(a) + c) / n) = floor((a + c) / n) for
 * integers c, n makes the pair floor((x*m + 2^30 + 2^(30+e) - [y < 0] 2^31) / 2^(31+e)), and for e >= 1
 * [y < 0] may be read as [x < 0] (they differ only where -2^30 <= x*m < 0, and there both give 0). The
 * constant goes into the accumulator's two halves (hi: 2^(e-2) - [x < 0], lo: 2^30 | [x < 0] 2^31), so on
 * Cortex-M4 it is AND, ORR, ADD, SMLAL and one shift of the high word. */
static inline int32_t requantize_double_fast(int32_t x, int32_t multiplier, int32_t right) {
  const uint32_t lo = 0x40000000u | ((uint32_t)x & 0x80000000u);
  const uint32_t hi = (1u << (right - 2)) - ((uint32_t)x >> 31);
  const int64_t v = (int64_t)(((uint64_t)hi << 32) | lo) + (int64_t)x * multiplier;
  return (int32_t)(v >> 32) >> (right - 1);
}

/* Convolutions: LiteRT 2.3's reference CONV_2D / DEPTHWISE_CONV_2D kernels requantize with double
 * rounding (measured against BUILTIN_REF on every element), as TFLM does: both modes round twice. */
static inline int32_t requantize_conv(int32_t x, int32_t multiplier, int32_t shift) {
  if (shift <= -2 && shift >= -31 && multiplier > 0) return requantize_double_fast(x, multiplier, -shift);
  return requantize_double(x, multiplier, shift);
}

/* LiteRT 2.3's reference MEAN rescales with gemmlowp double rounding in either build (measured) */
static int32_t requantize_mean(int32_t x, int32_t multiplier, int32_t shift) {
  return requantize_double(x, multiplier, shift);
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* clamp to [-128, 127]: one SSAT on Cortex-M4 */
static inline int32_t saturate_s8(int32_t v) {
#if KWS_SIMD
  return __ssat(v, 8);
#else
  return clamp(v, -128, 127);
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

/* ------------------------------------------------------------------ convolutions */

/* CONV_2D as an int16 matrix product (the CMSIS-NN way). Two output positions at a time: their input patches
 * (filter_h x filter_w x in_c values k each, 0 ... padded to a multiple of 4) are gathered once into `patch`
 * as 16-bit values WITHOUT the input offset, the input's zero point standing for the taps where the filter
 * hangs over the border (so those taps add w * (zp + input_offset) = 0, as the reference kernel's skipped
 * taps do). The generator folds the offset into the bias: bias[c] + input_offset * sum_k w[c][k] (exact in
 * int32's wrapping arithmetic). Patch layout: for each group of 4 values, position A's 4 values, then
 * position B's, each in KWS_PATCH_LANE order. Weights (the generator's kws_conv_weight_index): for each pair
 * of output channels and each group of 4 values, the 2 channels' 4 bytes one after the other. The SIMD inner
 * kernel computes 2 positions x 2 channels: per group 3 double-word loads, 4 SXTB16, 8 SMLAD for 16 MACs. */
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

/* one position's patch into slot 0 (A) or 1 (B) */
static void conv_fill_patch(const kws_conv_params_t *p, kws_dims_t in_dims, const int8_t *in, int32_t filter_h,
                            int32_t filter_w, int32_t y0, int32_t x0, int16_t *patch, int32_t padded) {
  const int32_t in_c = in_dims.c, run = filter_w * in_c;
  const int16_t border = (int16_t)-p->input_offset; /* the input's zero point */
  int32_t fy, fx, c, k = 0;
  for (fy = 0; fy < filter_h; ++fy) {
    const int32_t y = y0 + fy * p->dilation_h;
    const int row_inside = y >= 0 && y < in_dims.h;
    if (row_inside && p->dilation_w == 1 && (run & 3) == 0 && (k & 3) == 0 && x0 >= 0 && x0 + filter_w <= in_dims.w) {
      /* whole groups: a word of 4 int8 values -> the two lane words of the group */
      const int8_t *src = in + ((size_t)y * in_dims.w + x0) * in_c;
      int16_t *dst = patch + 2 * k;
      int32_t i;
      for (i = 0; i < run; i += 4, dst += 8) {
#if KWS_SIMD
        uint32_t v, lo, hi;
        memcpy(&v, src + i, 4);
        lo = __sxtb16(v);
        hi = sxtb16_ror8(v);
        memcpy(dst, &lo, 4);
        memcpy(dst + 2, &hi, 4);
#else
        dst[0] = src[i];
        dst[1] = src[i + 2];
        dst[2] = src[i + 1];
        dst[3] = src[i + 3];
#endif
      }
      k += run;
      continue;
    }
    for (fx = 0; fx < filter_w; ++fx) {
      const int32_t x = x0 + fx * p->dilation_w;
      if (!row_inside || x < 0 || x >= in_dims.w) {
        for (c = 0; c < in_c; ++c, ++k) patch[2 * (k & ~3) + KWS_PATCH_LANE(k)] = border;
      } else {
        const int8_t *src = in + ((size_t)y * in_dims.w + x) * in_c;
        for (c = 0; c < in_c; ++c, ++k) patch[2 * (k & ~3) + KWS_PATCH_LANE(k)] = src[c];
      }
    }
  }
  for (; k < padded; ++k) patch[2 * (k & ~3) + KWS_PATCH_LANE(k)] = 0; /* the weights there are 0 too */
}

/* acc[2 * position + channel] for positions A, B and the 2 channels of `w`, over `groups` groups of 4 values */
#if defined(__GNUC__)
#define KWS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define KWS_ALWAYS_INLINE inline
#endif
static KWS_ALWAYS_INLINE void conv_dot_2x2(const int16_t *patch, const int8_t *w, int32_t groups, int32_t *acc) {
#if KWS_SIMD
  /* Written in assembly because the compiler splits the double-word loads and adds pointer arithmetic (22
   * instructions a group instead of 17). Two groups per turn: 2 LDRD (patch A, B), 2 LDR (a weight word per
   * channel), 4 SXTB16, 8 SMLAD each, then CMP + BNE. 13 registers. */
  int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  const int8_t *pairs_end = w + 16 * (groups >> 1);
  if (groups >= 2) {
    uint32_t pa0, pa1, pb0, pb1, wv, t;
    __asm__ volatile(
        "1:\n\t"
        "ldrd %[pb0], %[pb1], [%[p], #8]\n\t"
        "ldrd %[pa0], %[pa1], [%[p]], #16\n\t"
        "ldr %[wv], [%[w]], #4\n\t"
        "sxtb16 %[t], %[wv]\n\t"
        "smlad %[a0], %[pa0], %[t], %[a0]\n\t"
        "smlad %[b0], %[pb0], %[t], %[b0]\n\t"
        "sxtb16 %[t], %[wv], ror #8\n\t"
        "smlad %[a0], %[pa1], %[t], %[a0]\n\t"
        "smlad %[b0], %[pb1], %[t], %[b0]\n\t"
        "ldr %[wv], [%[w]], #4\n\t"
        "sxtb16 %[t], %[wv]\n\t"
        "smlad %[a1], %[pa0], %[t], %[a1]\n\t"
        "smlad %[b1], %[pb0], %[t], %[b1]\n\t"
        "sxtb16 %[t], %[wv], ror #8\n\t"
        "smlad %[a1], %[pa1], %[t], %[a1]\n\t"
        "smlad %[b1], %[pb1], %[t], %[b1]\n\t"
        "ldrd %[pb0], %[pb1], [%[p], #8]\n\t"
        "ldrd %[pa0], %[pa1], [%[p]], #16\n\t"
        "ldr %[wv], [%[w]], #4\n\t"
        "sxtb16 %[t], %[wv]\n\t"
        "smlad %[a0], %[pa0], %[t], %[a0]\n\t"
        "smlad %[b0], %[pb0], %[t], %[b0]\n\t"
        "sxtb16 %[t], %[wv], ror #8\n\t"
        "smlad %[a0], %[pa1], %[t], %[a0]\n\t"
        "smlad %[b0], %[pb1], %[t], %[b0]\n\t"
        "ldr %[wv], [%[w]], #4\n\t"
        "sxtb16 %[t], %[wv]\n\t"
        "smlad %[a1], %[pa0], %[t], %[a1]\n\t"
        "smlad %[b1], %[pb0], %[t], %[b1]\n\t"
        "sxtb16 %[t], %[wv], ror #8\n\t"
        "smlad %[a1], %[pa1], %[t], %[a1]\n\t"
        "smlad %[b1], %[pb1], %[t], %[b1]\n\t"
        "cmp %[w], %[end]\n\t"
        "bne 1b\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [p] "+r"(patch), [w] "+r"(w),
          [pa0] "=&r"(pa0), [pa1] "=&r"(pa1), [pb0] "=&r"(pb0), [pb1] "=&r"(pb1), [wv] "=&r"(wv), [t] "=&r"(t)
        : [end] "r"(pairs_end)
        : "cc", "memory");
  }
  if (groups & 1) { /* the odd last group */
    uint32_t pa02, pa13, pb02, pb13, w0, w1, t;
    memcpy(&pa02, patch, 4);
    memcpy(&pa13, patch + 2, 4);
    memcpy(&pb02, patch + 4, 4);
    memcpy(&pb13, patch + 6, 4);
    memcpy(&w0, w, 4);
    memcpy(&w1, w + 4, 4);
    t = __sxtb16(w0);
    a0 = __smlad(pa02, t, a0);
    b0 = __smlad(pb02, t, b0);
    t = sxtb16_ror8(w0);
    a0 = __smlad(pa13, t, a0);
    b0 = __smlad(pb13, t, b0);
    t = __sxtb16(w1);
    a1 = __smlad(pa02, t, a1);
    b1 = __smlad(pb02, t, b1);
    t = sxtb16_ror8(w1);
    a1 = __smlad(pa13, t, a1);
    b1 = __smlad(pb13, t, b1);
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = b0;
  acc[3] = b1;
#else
  /* lane order of the patch: values 0, 2, 1, 3 of the group */
  int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0, g;
  for (g = 0; g < groups; ++g, w += 8, patch += 8) {
    a0 += patch[0] * w[0] + patch[2] * w[1] + patch[1] * w[2] + patch[3] * w[3];
    a1 += patch[0] * w[4] + patch[2] * w[5] + patch[1] * w[6] + patch[3] * w[7];
    b0 += patch[4] * w[0] + patch[6] * w[1] + patch[5] * w[2] + patch[7] * w[3];
    b1 += patch[4] * w[4] + patch[6] * w[5] + patch[5] * w[6] + patch[7] * w[7];
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = b0;
  acc[3] = b1;
#endif
}

static inline int8_t conv_output(const kws_conv_params_t *p, int32_t acc, int32_t multiplier, int32_t shift) {
  return (int8_t)clamp(requantize_conv(acc, multiplier, shift) + p->output_offset, p->act_min, p->act_max);
}

/* every channel takes requantize_double_fast (checked once per layer, not per output) */
static int conv_all_fast(const int32_t *multipliers, const int32_t *shifts, int32_t channels) {
  int32_t c;
  for (c = 0; c < channels; ++c) {
    if (shifts[c] > -2 || shifts[c] < -31 || multipliers[c] <= 0) return 0;
  }
  return 1;
}

void kws_conv2d_s8(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                   kws_dims_t in_dims, const int8_t *in, int32_t filter_h, int32_t filter_w,
                   const int8_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *out, int16_t *patch) {
  const int32_t padded = KWS_CONV_PATCH_VALUES(filter_h * filter_w * in_dims.c), groups = padded / 4;
  const int32_t positions = out_dims.h * out_dims.w, out_c = out_dims.c;
  const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
  const int fast = conv_all_fast(multipliers, shifts, out_c) && (out_c & 1) == 0;
  const int full_range = act_min == -128 && act_max == 127; /* ReLU after a zero point of -128, or none */
  int32_t pos, oc;
  for (pos = 0; pos < positions; pos += 2) {
    /* an odd last position is computed twice (B = A) and stored once */
    const int32_t pos_b = pos + 1 < positions ? pos + 1 : pos;
    int8_t *out_a = out + (size_t)pos * out_c, *out_b = out + (size_t)pos_b * out_c;
    const int8_t *w = filter;
    conv_fill_patch(p, in_dims, in, filter_h, filter_w, (pos / out_dims.w) * p->stride_h - p->pad_top,
                    (pos % out_dims.w) * p->stride_w - p->pad_left, patch, padded);
    conv_fill_patch(p, in_dims, in, filter_h, filter_w, (pos_b / out_dims.w) * p->stride_h - p->pad_top,
                    (pos_b % out_dims.w) * p->stride_w - p->pad_left, patch + 4, padded);
    if (fast) {
      /* the usual layer: no per-output checks, parameters in registers */
      for (oc = 0; oc < out_c; oc += 2, w += 2 * padded) {
        int32_t acc[4], j;
        conv_dot_2x2(patch, w, groups, acc);
        for (j = 0; j < 2; ++j) {
          const int32_t m = multipliers[oc + j], right = -shifts[oc + j], b = bias[oc + j];
          const int32_t va = requantize_double_fast(acc[j] + b, m, right) + out_offset;
          const int32_t vb = requantize_double_fast(acc[2 + j] + b, m, right) + out_offset;
          out_a[oc + j] = full_range ? (int8_t)saturate_s8(va) : (int8_t)clamp(va, act_min, act_max);
          out_b[oc + j] = full_range ? (int8_t)saturate_s8(vb) : (int8_t)clamp(vb, act_min, act_max);
        }
      }
      continue;
    }
    for (oc = 0; oc < out_c; oc += 2, w += 2 * padded) {
      int32_t acc[4];
      conv_dot_2x2(patch, w, groups, acc);
      out_a[oc] = conv_output(p, acc[0] + bias[oc], multipliers[oc], shifts[oc]);
      out_b[oc] = conv_output(p, acc[2] + bias[oc], multipliers[oc], shifts[oc]);
      if (oc + 1 < out_c) {
        out_a[oc + 1] = conv_output(p, acc[1] + bias[oc + 1], multipliers[oc + 1], shifts[oc + 1]);
        out_b[oc + 1] = conv_output(p, acc[3] + bias[oc + 1], multipliers[oc + 1], shifts[oc + 1]);
      }
    }
  }
}

#if KWS_SIMD
/* one tap of DEPTHWISE_CONV_2D for 4 channels: input word widened with the offset added (SXTAB16), weights
 * pre-widened by the generator; SMLABB / SMLATT keep the channels apart */
#define KWS_DW_TAP(x_at, w_at)                  \
  do {                                          \
    uint32_t xv, x02, x13, w02, w13;            \
    memcpy(&xv, (x_at), 4);                     \
    memcpy(&w02, (w_at), 4);                    \
    memcpy(&w13, (w_at) + 2, 4);                \
    x02 = __sxtab16(offsets, xv);               \
    x13 = sxtab16_ror8(offsets, xv);            \
    a0 = __smlabb(x02, w02, a0);                \
    a2 = __smlatt(x02, w02, a2);                \
    a1 = __smlabb(x13, w13, a1);                \
    a3 = __smlatt(x13, w13, a3);                \
  } while (0)
#endif

/* the input's zero point repeated: the pointer of every tap outside the input in depthwise_row's SIMD path
 * (it multiplies to 0, as the reference kernel's skipped taps); filled by kws_depthwise_conv2d_s8 */
#define KWS_DW_BORDER_BYTES 512
#define KWS_DW_MAX_TAPS 32
#if KWS_SIMD
static int8_t kws_dw_border[KWS_DW_BORDER_BYTES];
#endif

/* One output row of DEPTHWISE_CONV_2D from the input rows under the filter (rows[fy], NULL outside). */
static void depthwise_row(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                          kws_dims_t in_dims, const int8_t *const *rows, int32_t filter_h, int32_t filter_w,
                          const int16_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *o, int fast,
                          const int8_t *border) {
  const int32_t out_c = out_dims.c, mult = p->depth_multiplier, c_padded = KWS_DEPTHWISE_CHANNELS_PADDED(out_c);
  const int32_t out_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
  const int full_range = act_min == -128 && act_max == 127;
  int32_t ox, oc, fy, fx;
  (void)border; /* the SIMD path's */
  for (ox = 0; ox < out_dims.w; ++ox, o += out_c) {
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    const int32_t fx_first = x0 < 0 ? (-x0 + p->dilation_w - 1) / p->dilation_w : 0;
    int32_t fx_end = filter_w;
    while (fx_end > fx_first && x0 + (fx_end - 1) * p->dilation_w >= in_dims.w) --fx_end;
    oc = 0;
#if KWS_SIMD
    if (border) {
      /* every tap through a pointer (taps outside point at the border's zero points): no border cases, one
       * loop of LDR, 2 SXTAB16, 2 LDR, 4 SMLAxy per tap and 4 channels */
      const uint32_t offsets = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
      const int32_t taps = filter_h * filter_w;
      const int8_t *x_at[KWS_DW_MAX_TAPS];
      int32_t k = 0;
      (void)fx_first;
      for (fy = 0; fy < filter_h; ++fy) {
        for (fx = 0; fx < filter_w; ++fx, ++k) {
          const int32_t x = x0 + fx * p->dilation_w;
          x_at[k] = rows[fy] && x >= 0 && x < in_dims.w ? rows[fy] + (size_t)x * in_dims.c : border;
        }
      }
      for (; oc < out_c; oc += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, j, acc[4];
        const int16_t *w_ptr = filter + oc;
        if (taps == 9) { /* 3x3, unrolled */
          const int16_t *w3 = w_ptr + 3 * c_padded, *w6 = w_ptr + 6 * c_padded;
          KWS_DW_TAP(x_at[0] + oc, w_ptr);
          KWS_DW_TAP(x_at[1] + oc, w_ptr + c_padded);
          KWS_DW_TAP(x_at[2] + oc, w_ptr + 2 * c_padded);
          KWS_DW_TAP(x_at[3] + oc, w3);
          KWS_DW_TAP(x_at[4] + oc, w3 + c_padded);
          KWS_DW_TAP(x_at[5] + oc, w3 + 2 * c_padded);
          KWS_DW_TAP(x_at[6] + oc, w6);
          KWS_DW_TAP(x_at[7] + oc, w6 + c_padded);
          KWS_DW_TAP(x_at[8] + oc, w6 + 2 * c_padded);
        } else {
          for (k = 0; k < taps; ++k, w_ptr += c_padded) KWS_DW_TAP(x_at[k] + oc, w_ptr);
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        for (j = 0; j < 4; ++j) {
          const int32_t v = requantize_double_fast(acc[j] + bias[oc + j], multipliers[oc + j], -shifts[oc + j]);
          o[oc + j] = full_range ? (int8_t)saturate_s8(v + out_offset) : (int8_t)clamp(v + out_offset, act_min, act_max);
        }
      }
      continue;
    }
    if (mult == 1 && (out_c & 3) == 0) {
      /* four channels per word: SMLABB / SMLATT keep the lanes apart */
      const uint32_t offsets = ((uint32_t)(uint16_t)p->input_offset << 16) | (uint16_t)p->input_offset;
      const int32_t x_step = p->dilation_w * in_dims.c, taps = fx_end - fx_first;
      const int8_t *x_row[KWS_DEPTHWISE_MAX_FILTER_H];
      const int16_t *w_row[KWS_DEPTHWISE_MAX_FILTER_H];
      int32_t used = 0;
      for (fy = 0; fy < filter_h; ++fy) { /* the rows under the filter, once per position */
        if (!rows[fy] || taps <= 0) continue;
        x_row[used] = rows[fy] + (size_t)(x0 + fx_first * p->dilation_w) * in_dims.c;
        w_row[used++] = filter + ((size_t)fy * filter_w + fx_first) * c_padded;
      }
      for (; oc < out_c; oc += 4) {
        /* scalar accumulators stay in registers (an array would live on the stack) */
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, j, acc[4], r;
        for (r = 0; r < used; ++r) {
          const int8_t *x_ptr = x_row[r] + oc;
          const int16_t *w_ptr = w_row[r] + oc;
          int32_t t;
          if (taps == 3) { /* the 3-wide filter away from the borders: unrolled */
            KWS_DW_TAP(x_ptr, w_ptr);
            KWS_DW_TAP(x_ptr + x_step, w_ptr + c_padded);
            KWS_DW_TAP(x_ptr + 2 * x_step, w_ptr + 2 * c_padded);
            continue;
          }
          for (t = 0; t < taps; ++t, x_ptr += x_step, w_ptr += c_padded) KWS_DW_TAP(x_ptr, w_ptr);
        }
        acc[0] = a0;
        acc[1] = a1;
        acc[2] = a2;
        acc[3] = a3;
        if (fast) {
          for (j = 0; j < 4; ++j) {
            const int32_t v = requantize_double_fast(acc[j] + bias[oc + j], multipliers[oc + j], -shifts[oc + j]);
            o[oc + j] = full_range ? (int8_t)saturate_s8(v + out_offset) : (int8_t)clamp(v + out_offset, act_min, act_max);
          }
          continue;
        }
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
        const int16_t *frow = filter + (size_t)fy * filter_w * c_padded + (oc & ~3) + KWS_PATCH_LANE(oc);
        if (!row) continue;
        row += ic;
        for (fx = fx_first; fx < fx_end; ++fx) {
          acc += (int32_t)frow[(size_t)fx * c_padded] *
                 ((int32_t)row[(size_t)(x0 + fx * p->dilation_w) * in_dims.c] + p->input_offset);
        }
      }
      if (fast) {
        acc = requantize_double_fast(acc + bias[oc], multipliers[oc], -shifts[oc]) + out_offset;
        o[oc] = full_range ? (int8_t)saturate_s8(acc) : (int8_t)clamp(acc, act_min, act_max);
        continue;
      }
      if (bias) acc += bias[oc];
      acc = requantize_conv(acc, multipliers[oc], shifts[oc]) + p->output_offset;
      o[oc] = (int8_t)clamp(acc, p->act_min, p->act_max);
    }
  }
}

void kws_depthwise_conv2d_s8(const kws_conv_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                             kws_dims_t in_dims, const int8_t *in, int32_t filter_h, int32_t filter_w,
                             const int16_t *filter, const int32_t *bias, kws_dims_t out_dims, int8_t *out,
                             int8_t *rows_scratch) {
  const size_t row_bytes = (size_t)in_dims.w * in_dims.c, out_row_bytes = (size_t)out_dims.w * out_dims.c;
  /* in place and strided (the generator checked that no output row covers an input row still to be read) */
  const int strided_in_place = rows_scratch && (out_dims.h != in_dims.h || out_dims.w != in_dims.w);
  const int32_t cached = p->pad_top; /* in place: input rows above the current one, kept in a ring */
  int8_t *const temp = rows_scratch ? rows_scratch + (size_t)cached * row_bytes : NULL;
  const int8_t *rows[KWS_DEPTHWISE_MAX_FILTER_H];
  const int fast = bias != NULL && conv_all_fast(multipliers, shifts, out_dims.c);
  const int8_t *border = NULL;
  int32_t oy, fy;
#if KWS_SIMD
  if (fast && p->depth_multiplier == 1 && (out_dims.c & 3) == 0 && out_dims.c <= KWS_DW_BORDER_BYTES &&
      filter_h * filter_w <= KWS_DW_MAX_TAPS) {
    memset(kws_dw_border, -p->input_offset, (size_t)out_dims.c);
    border = kws_dw_border;
  }
#endif
  for (oy = 0; oy < out_dims.h; ++oy) {
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    for (fy = 0; fy < filter_h; ++fy) {
      const int32_t y = y0 + fy * p->dilation_h;
      if (y < 0 || y >= in_dims.h) {
        rows[fy] = NULL;
      } else if (rows_scratch && !strided_in_place && y < oy) {
        rows[fy] = rows_scratch + (size_t)(y % cached) * row_bytes; /* already overwritten: from the ring */
      } else {
        rows[fy] = in + (size_t)y * row_bytes;
      }
    }
    if (strided_in_place) {
      depthwise_row(p, multipliers, shifts, in_dims, rows, filter_h, filter_w, filter, bias, out_dims, rows_scratch,
                    fast, border);
      memcpy(out + (size_t)oy * out_row_bytes, rows_scratch, out_row_bytes);
    } else if (!rows_scratch) {
      depthwise_row(p, multipliers, shifts, in_dims, rows, filter_h, filter_w, filter, bias, out_dims,
                    out + (size_t)oy * out_dims.w * out_dims.c, fast, border);
    } else {
      /* in place (stride 1, same size): compute the row aside, keep the input row, then overwrite it */
      depthwise_row(p, multipliers, shifts, in_dims, rows, filter_h, filter_w, filter, bias, out_dims, temp, fast,
                    border);
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
