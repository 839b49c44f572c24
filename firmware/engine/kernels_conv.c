/* kernels_conv.c: CONV_2D and DEPTHWISE_CONV_2D, bit-exact with LiteRT's reference kernels (see
 * kernels_int8.h); portable and Cortex-M4 DSP paths. */
#include <string.h>

#include "kernels_fixed.h"
#include "kernels_int8.h"

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

