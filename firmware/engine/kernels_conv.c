/* kernels_conv.c: CONV_2D and DEPTHWISE_CONV_2D, bit-exact with LiteRT's reference kernels (see
 * kernels_int8.h); portable and Cortex-M4 DSP paths, one weight layout for both. */
#include <string.h>

#include "kernels_fixed.h"
#include "kernels_int8.h"

#if defined(__GNUC__)
#define KWS_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define KWS_ALWAYS_INLINE inline
#endif

/* one output value from its accumulator (already holding the bias), in either requantization form */
static inline int8_t conv_output(const kws_conv_params_t *p, int32_t acc, const kws_channel_requant_t *r) {
  if (p->fast) return (int8_t)clamp(requantize_fast(acc, r->multiplier, r->rounding, r->shift), p->act_min, p->act_max);
  return (int8_t)clamp(requantize_conv(acc, r->multiplier, r->shift) + p->output_offset, p->act_min, p->act_max);
}

/* ------------------------------------------------------------------ CONV_2D */

/* CONV_2D as an int16 matrix product (the CMSIS-NN way). Two output positions at a time: their input patches
 * (filter_h x filter_w x in_c values k each, 0 ... padded to a multiple of 4) are gathered once into `patch`
 * as 16-bit values WITHOUT the input offset, the input's zero point standing for the taps where the filter
 * hangs over the border (so those taps add w * (zp + input_offset) = 0, as the reference kernel's skipped
 * taps do); the generator folds the offset into the bias (kws_channel_requant_t). Patch layout: for each
 * group of 4 values, position A's 4 values, then position B's, each in KWS_PATCH_LANE order. Weights (the
 * generator's _conv_weights): int16, widened once on the host; for each pair of output channels and each
 * group of 4 values, the 2 channels' 4 values in the patch's lane order. The SIMD inner kernel computes
 * 2 positions x 2 channels: per group 4 double-word loads and 8 SMLAD for 16 MACs. */

/* 4 int8 values -> their 4 lanes in the patch (KWS_PATCH_LANE order: values 0, 2, then 1, 3) */
static inline void conv_widen4(const int8_t *src, int16_t *dst) {
#if KWS_SIMD
  uint32_t v, lo, hi;
  memcpy(&v, src, 4);
  lo = __sxtb16(v);
  hi = sxtb16_ror8(v);
  memcpy(dst, &lo, 4);
  memcpy(dst + 2, &hi, 4);
#else
  dst[0] = src[0];
  dst[1] = src[2];
  dst[2] = src[1];
  dst[3] = src[3];
#endif
}

/* one position's patch into slot 0 (A) or 1 (B) */
static void conv_fill_patch(const kws_conv_params_t *p, kws_dims_t in_dims, const int8_t *in, int32_t filter_h,
                            int32_t filter_w, int32_t y0, int32_t x0, int16_t *patch, int32_t padded) {
  const int32_t in_c = in_dims.c, run = filter_w * in_c;
  const int16_t border = (int16_t)-p->input_offset; /* the input's zero point */
  int32_t fy, fx, c, k = 0;
  if (p->dilation_w == 1 && (run & 3) == 0 && x0 >= 0 && x0 + filter_w <= in_dims.w) {
    /* every row of the filter is whole groups of 4 values: a word of int8 -> the group's lanes; the rows
     * above the input, those inside (one pointer step apart), those below */
    const int32_t dil = p->dilation_h, groups = run / 4;
    const int32_t first = y0 >= 0 ? 0 : (-y0 + dil - 1) / dil;
    int32_t end = in_dims.h - y0 <= 0 ? 0 : (in_dims.h - y0 + dil - 1) / dil, i;
    const uint32_t border2 = ((uint32_t)(uint16_t)border << 16) | (uint16_t)border;
    int16_t *dst = patch;
    if (end > filter_h) end = filter_h;
    if (end < first) end = first;
    for (i = 0; i < first * groups; ++i, dst += 8) { memcpy(dst, &border2, 4); memcpy(dst + 2, &border2, 4); }
    if (end > first) {
      const size_t row_step = (size_t)dil * in_dims.w * in_c;
      const int8_t *src = in + ((size_t)(y0 + first * dil) * in_dims.w + x0) * in_c;
      if (run == 4) { /* one word a row (a first layer on one channel, 4 wide) */
        for (fy = first; fy < end; ++fy, src += row_step, dst += 8) conv_widen4(src, dst);
      } else {
        for (fy = first; fy < end; ++fy, src += row_step) {
          for (i = 0; i < run; i += 4, dst += 8) conv_widen4(src + i, dst);
        }
      }
    }
    for (i = end * groups; i < filter_h * groups; ++i, dst += 8) {
      memcpy(dst, &border2, 4);
      memcpy(dst + 2, &border2, 4);
    }
    k = filter_h * run;
  } else {
    for (fy = 0; fy < filter_h; ++fy) {
      const int32_t y = y0 + fy * p->dilation_h;
      const int row_inside = y >= 0 && y < in_dims.h;
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
  }
  for (; k < padded; ++k) patch[2 * (k & ~3) + KWS_PATCH_LANE(k)] = 0; /* the weights there are 0 too */
}

#if KWS_SIMD
/* one group of 4 values for 2 positions x 2 channels: LDRD the patch of A and of B, LDRD each channel's
 * 4 weights, 8 SMLAD (16 MACs in 12 instructions) */
#define KWS_CONV_GROUP                           \
  "ldrd %[pb0], %[pb1], [%[p], #8]\n\t"          \
  "ldrd %[pa0], %[pa1], [%[p]], #16\n\t"         \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"            \
  "smlad %[a0], %[pa0], %[w0], %[a0]\n\t"        \
  "smlad %[b0], %[pb0], %[w0], %[b0]\n\t"        \
  "smlad %[a0], %[pa1], %[w1], %[a0]\n\t"        \
  "smlad %[b0], %[pb1], %[w1], %[b0]\n\t"        \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"            \
  "smlad %[a1], %[pa0], %[w0], %[a1]\n\t"        \
  "smlad %[b1], %[pb0], %[w0], %[b1]\n\t"        \
  "smlad %[a1], %[pa1], %[w1], %[a1]\n\t"        \
  "smlad %[b1], %[pb1], %[w1], %[b1]\n\t"

/* requantize accumulator `acc` (fast form: m, rounding in w0, w1; e in end) and store the byte at `at` */
#define KWS_CONV_STORE(acc, at)                  \
  "smmlar %[pa0], %[" acc "], %[w0], %[w1]\n\t"  \
  "sub %[pa0], %[pa0], %[" acc "], lsr #31\n\t"  \
  "asr %[pa0], %[pa0], %[end]\n\t"               \
  "ssat %[pa0], #8, %[pa0]\n\t"                  \
  "strb %[pa0], " at "\n\t"
#endif

/* acc[2 * position + channel] += positions A, B x the 2 channels of `w`, over `groups` (even) groups of 4 */
static KWS_ALWAYS_INLINE void conv_dot_2x2(const int16_t *patch, const int16_t *w, int32_t groups, int32_t *acc) {
  int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
#if KWS_SIMD
  const int16_t *pairs_end = w + 16 * (groups >> 1);
  uint32_t pa0, pa1, pb0, pb1, w0, w1;
  __asm__ volatile(
      "1:\n\t" KWS_CONV_GROUP KWS_CONV_GROUP
      "cmp %[w], %[end]\n\t"
      "bne 1b\n\t"
      : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [p] "+r"(patch), [w] "+r"(w),
        [pa0] "=&r"(pa0), [pa1] "=&r"(pa1), [pb0] "=&r"(pb0), [pb1] "=&r"(pb1), [w0] "=&r"(w0), [w1] "=&r"(w1)
      : [end] "r"(pairs_end)
      : "cc", "memory");
#else
  int32_t g, j;
  for (g = 0; g < groups; ++g, w += 8, patch += 8) {
    for (j = 0; j < 4; ++j) {
      a0 += patch[j] * w[j];
      a1 += patch[j] * w[4 + j];
      b0 += patch[4 + j] * w[j];
      b1 += patch[4 + j] * w[4 + j];
    }
  }
#endif
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = b0;
  acc[3] = b1;
}

/* the usual layer (fast form, full int8 range, even channel count): every channel pair of positions A and B.
 * On Cortex-M4 one assembly loop (accumulators from the biases, the groups, requantization and stores), its
 * pointers kept in memory operands between pairs: 13 registers are busy in the inner loop (one too many when
 * -O0 keeps a frame pointer: then the C loop below, around the same inner kernel). */
static void conv_channels_fast(const kws_channel_requant_t *r, const int16_t *w, const int16_t *patch,
                               int32_t groups, int32_t out_c, int8_t *out_a, int8_t *out_b) {
#if KWS_SIMD && defined(__OPTIMIZE__)
  const int16_t *const patch_end = patch + 8 * groups;
  int8_t *o = out_a, *const o_end = out_a + out_c;
  const int32_t b_offset = (int32_t)(out_b - out_a);
  uint32_t a0, a1, b0, b1, pa0, pa1, pb0, pb1, w0, w1, p, end;
  __asm__ volatile(
      "2:\n\t"
      "ldr %[p], %[r_m]\n\t"
      "ldr %[a0], [%[p]]\n\t"
      "ldr %[a1], [%[p], #16]\n\t"
      "mov %[b0], %[a0]\n\t"
      "mov %[b1], %[a1]\n\t"
      "ldr %[p], %[patch_m]\n\t"
      "ldr %[end], %[patch_end_m]\n\t"
      "1:\n\t" KWS_CONV_GROUP KWS_CONV_GROUP
      "cmp %[p], %[end]\n\t"
      "bne 1b\n\t"
      "ldr %[p], %[r_m]\n\t"
      "ldr %[pa1], %[o_m]\n\t"
      "ldr %[pb1], %[b_offset_m]\n\t"
      "ldrd %[w0], %[w1], [%[p], #4]\n\t"
      "ldr %[end], [%[p], #12]\n\t"
      KWS_CONV_STORE("a0", "[%[pa1]]")
      KWS_CONV_STORE("b0", "[%[pa1], %[pb1]]")
      "ldrd %[w0], %[w1], [%[p], #20]\n\t"
      "ldr %[end], [%[p], #28]\n\t"
      "add %[pa1], %[pa1], #1\n\t"
      KWS_CONV_STORE("a1", "[%[pa1]]")
      KWS_CONV_STORE("b1", "[%[pa1], %[pb1]]")
      "add %[pa1], %[pa1], #1\n\t"
      "str %[pa1], %[o_m]\n\t"
      "add %[p], %[p], #32\n\t"
      "str %[p], %[r_m]\n\t"
      "ldr %[end], %[o_end_m]\n\t"
      "cmp %[pa1], %[end]\n\t"
      "bne 2b\n\t"
      : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [w] "+r"(w), [pa0] "=&r"(pa0),
        [pa1] "=&r"(pa1), [pb0] "=&r"(pb0), [pb1] "=&r"(pb1), [w0] "=&r"(w0), [w1] "=&r"(w1), [p] "=&r"(p),
        [end] "=&r"(end), [r_m] "+m"(r), [o_m] "+m"(o)
      : [patch_m] "m"(patch), [patch_end_m] "m"(patch_end), [b_offset_m] "m"(b_offset), [o_end_m] "m"(o_end)
      : "cc", "memory");
#else
  const int32_t step = 8 * groups; /* int16 weights of a channel pair */
  int32_t oc;
  for (oc = 0; oc < out_c; oc += 2, w += step, r += 2) {
    int32_t acc[4];
    acc[0] = acc[2] = r[0].bias;
    acc[1] = acc[3] = r[1].bias;
    conv_dot_2x2(patch, w, groups, acc);
    out_a[oc] = (int8_t)saturate_s8(requantize_fast(acc[0], r[0].multiplier, r[0].rounding, r[0].shift));
    out_b[oc] = (int8_t)saturate_s8(requantize_fast(acc[2], r[0].multiplier, r[0].rounding, r[0].shift));
    out_a[oc + 1] = (int8_t)saturate_s8(requantize_fast(acc[1], r[1].multiplier, r[1].rounding, r[1].shift));
    out_b[oc + 1] = (int8_t)saturate_s8(requantize_fast(acc[3], r[1].multiplier, r[1].rounding, r[1].shift));
  }
#endif
}

void kws_conv2d_s8(const kws_conv_params_t *p, const kws_channel_requant_t *requant, kws_dims_t in_dims,
                   const int8_t *in, int32_t filter_h, int32_t filter_w, const int16_t *filter, kws_dims_t out_dims,
                   int8_t *out, int16_t *patch) {
  const int32_t padded = KWS_CONV_PATCH_VALUES(filter_h * filter_w * in_dims.c), groups = padded / 4;
  const int32_t positions = out_dims.h * out_dims.w, out_c = out_dims.c;
  const int usual = p->fast && p->act_min == -128 && p->act_max == 127 && (out_c & 1) == 0;
  int32_t pos, oc;
  for (pos = 0; pos < positions; pos += 2) {
    /* an odd last position is computed twice (B = A) and stored once */
    const int32_t pos_b = pos + 1 < positions ? pos + 1 : pos;
    int8_t *out_a = out + (size_t)pos * out_c, *out_b = out + (size_t)pos_b * out_c;
    const int16_t *w = filter;
    conv_fill_patch(p, in_dims, in, filter_h, filter_w, (pos / out_dims.w) * p->stride_h - p->pad_top,
                    (pos % out_dims.w) * p->stride_w - p->pad_left, patch, padded);
    conv_fill_patch(p, in_dims, in, filter_h, filter_w, (pos_b / out_dims.w) * p->stride_h - p->pad_top,
                    (pos_b % out_dims.w) * p->stride_w - p->pad_left, patch + 4, padded);
    if (usual) {
      conv_channels_fast(requant, w, patch, groups, out_c, out_a, out_b);
      continue;
    }
    for (oc = 0; oc < out_c; oc += 2, w += 8 * groups) {
      const kws_channel_requant_t *r = requant + oc;
      int32_t acc[4];
      acc[0] = acc[2] = r[0].bias;
      acc[1] = acc[3] = oc + 1 < out_c ? r[1].bias : 0;
      conv_dot_2x2(patch, w, groups, acc);
      out_a[oc] = conv_output(p, acc[0], r);
      out_b[oc] = conv_output(p, acc[2], r);
      if (oc + 1 < out_c) {
        out_a[oc + 1] = conv_output(p, acc[1], r + 1);
        out_b[oc + 1] = conv_output(p, acc[3], r + 1);
      }
    }
  }
}

/* ------------------------------------------------------------------ DEPTHWISE_CONV_2D */

/* Every tap of an output position is read through a pointer (x_at[k]: the input pixel under tap k, or the
 * generator's `border` row of zero points for taps outside the input, which the folded bias turns into 0).
 * Weights: [group of 4 channels][tap][4 lanes c, c+2, c+1, c+3]. */

#if KWS_SIMD
/* one tap for 4 channels: an input word widened into lanes (c, c+2) and (c+1, c+3) by SXTB16, the weights
 * pre-widened by the generator (one LDRD), SMLABB / SMLATT keep the 4 channels apart */
#define KWS_DW_TAP(x_ptr, w_ptr)                \
  do {                                          \
    uint32_t xv, x02, x13, w02, w13;            \
    memcpy(&xv, (x_ptr), 4);                    \
    memcpy(&w02, (w_ptr), 4);                   \
    memcpy(&w13, (w_ptr) + 2, 4);               \
    x02 = __sxtb16(xv);                         \
    x13 = sxtb16_ror8(xv);                      \
    a0 = __smlabb(x02, w02, a0);                \
    a2 = __smlatt(x02, w02, a2);                \
    a1 = __smlabb(x13, w13, a1);                \
    a3 = __smlatt(x13, w13, a3);                \
  } while (0)

/* tap k (byte offset of its pointer in x_at): LDR the pointer, LDR 4 channels, LDRD their weights, 2 SXTB16,
 * 4 SMLAxy */
#define KWS_DW_TAP_ASM(offset)                   \
  "ldr %[x], [%[xa], #" #offset "]\n\t"          \
  "ldr %[x], [%[x], %[oc]]\n\t"                  \
  "ldrd %[w02], %[w13], [%[w]], #8\n\t"          \
  "sxtb16 %[t], %[x]\n\t"                        \
  "sxtb16 %[x], %[x], ror #8\n\t"                \
  "smlabb %[a0], %[t], %[w02], %[a0]\n\t"        \
  "smlatt %[a2], %[t], %[w02], %[a2]\n\t"        \
  "smlabb %[a1], %[x], %[w13], %[a1]\n\t"        \
  "smlatt %[a3], %[x], %[w13], %[a3]\n\t"

/* one position, 4 channels a step (depth multiplier 1, channels a multiple of 4, fast form, full range) */
static void depthwise_position_simd(const int8_t *const *x_at, int32_t taps, const int16_t *w,
                                    const kws_channel_requant_t *r, int32_t out_c, int8_t *o) {
  int32_t oc, k;
  for (oc = 0; oc < out_c; oc += 4, r += 4, o += 4) {
    int32_t a0 = r[0].bias, a1 = r[1].bias, a2 = r[2].bias, a3 = r[3].bias;
    if (taps == 9) { /* 3x3: in assembly (the compiler spills the tap pointers), 9 instructions a tap */
      uint32_t x, t, w02, w13;
      __asm__ volatile(
          KWS_DW_TAP_ASM(0) KWS_DW_TAP_ASM(4) KWS_DW_TAP_ASM(8) KWS_DW_TAP_ASM(12) KWS_DW_TAP_ASM(16)
          KWS_DW_TAP_ASM(20) KWS_DW_TAP_ASM(24) KWS_DW_TAP_ASM(28) KWS_DW_TAP_ASM(32)
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "=&r"(x), [t] "=&r"(t),
            [w02] "=&r"(w02), [w13] "=&r"(w13)
          : [xa] "r"(x_at), [oc] "r"(oc)
          : "memory");
    } else {
      for (k = 0; k < taps; ++k, w += 4) KWS_DW_TAP(x_at[k] + oc, w);
    }
    o[0] = (int8_t)saturate_s8(requantize_fast(a0, r[0].multiplier, r[0].rounding, r[0].shift));
    o[1] = (int8_t)saturate_s8(requantize_fast(a1, r[1].multiplier, r[1].rounding, r[1].shift));
    o[2] = (int8_t)saturate_s8(requantize_fast(a2, r[2].multiplier, r[2].rounding, r[2].shift));
    o[3] = (int8_t)saturate_s8(requantize_fast(a3, r[3].multiplier, r[3].rounding, r[3].shift));
  }
}
#endif

/* one position, one channel at a time (any depth multiplier, either form) */
static void depthwise_position(const kws_conv_params_t *p, const int8_t *const *x_at, int32_t taps,
                               const int16_t *filter, const kws_channel_requant_t *requant, int32_t out_c,
                               int8_t *o) {
  const int32_t mult = p->depth_multiplier;
  int32_t oc, k;
  for (oc = 0; oc < out_c; ++oc) {
    const int32_t ic = mult == 1 ? oc : oc / mult;
    const int16_t *w = filter + (size_t)(oc >> 2) * 4 * taps + KWS_PATCH_LANE(oc & 3);
    int32_t acc = requant[oc].bias;
    for (k = 0; k < taps; ++k) acc += (int32_t)w[4 * k] * x_at[k][ic];
    o[oc] = conv_output(p, acc, requant + oc);
  }
}

/* One output row of DEPTHWISE_CONV_2D from the input rows under the filter (rows[fy], NULL outside). */
static void depthwise_row(const kws_conv_params_t *p, const kws_channel_requant_t *requant, kws_dims_t in_dims,
                          const int8_t *const *rows, int32_t filter_h, int32_t filter_w, const int16_t *filter,
                          const int8_t *border, kws_dims_t out_dims, int8_t *o) {
  const int32_t out_c = out_dims.c, taps = filter_h * filter_w;
#if KWS_SIMD
  const int simd = p->fast && p->depth_multiplier == 1 && (out_c & 3) == 0 && p->act_min == -128 &&
                   p->act_max == 127;
#endif
  const int8_t *x_at[KWS_DEPTHWISE_MAX_TAPS];
  int32_t ox, fy, fx;
  for (ox = 0; ox < out_dims.w; ++ox, o += out_c) {
    const int32_t x0 = ox * p->stride_w - p->pad_left, x_last = x0 + (filter_w - 1) * p->dilation_w;
    int32_t k = 0;
    if (x0 >= 0 && x_last < in_dims.w) { /* no tap left or right of the input */
      const size_t x_step = (size_t)p->dilation_w * in_dims.c;
      for (fy = 0; fy < filter_h; ++fy) {
        const int8_t *at = rows[fy] ? rows[fy] + (size_t)x0 * in_dims.c : NULL;
        for (fx = 0; fx < filter_w; ++fx, ++k) {
          x_at[k] = at ? at : border;
          if (at) at += x_step;
        }
      }
    } else {
      for (fy = 0; fy < filter_h; ++fy) {
        for (fx = 0; fx < filter_w; ++fx, ++k) {
          const int32_t x = x0 + fx * p->dilation_w;
          x_at[k] = rows[fy] && x >= 0 && x < in_dims.w ? rows[fy] + (size_t)x * in_dims.c : border;
        }
      }
    }
#if KWS_SIMD
    if (simd) {
      depthwise_position_simd(x_at, taps, filter, requant, out_c, o);
      continue;
    }
#endif
    depthwise_position(p, x_at, taps, filter, requant, out_c, o);
  }
}

void kws_depthwise_conv2d_s8(const kws_conv_params_t *p, const kws_channel_requant_t *requant, kws_dims_t in_dims,
                             const int8_t *in, int32_t filter_h, int32_t filter_w, const int16_t *filter,
                             const int8_t *border, kws_dims_t out_dims, int8_t *out, int8_t *rows_scratch) {
  const size_t row_bytes = (size_t)in_dims.w * in_dims.c, out_row_bytes = (size_t)out_dims.w * out_dims.c;
  /* in place and strided (the generator checked that no output row covers an input row still to be read) */
  const int strided_in_place = rows_scratch && (out_dims.h != in_dims.h || out_dims.w != in_dims.w);
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
      } else if (rows_scratch && !strided_in_place && y < oy) {
        rows[fy] = rows_scratch + (size_t)(y % cached) * row_bytes; /* already overwritten: from the ring */
      } else {
        rows[fy] = in + (size_t)y * row_bytes;
      }
    }
    if (strided_in_place) {
      /* row oy into the ring; row oy - delay (every later row reads input below it) over the input */
      const int32_t ring = p->rows_delay + 1;
      depthwise_row(p, requant, in_dims, rows, filter_h, filter_w, filter, border, out_dims,
                    rows_scratch + (size_t)(oy % ring) * out_row_bytes);
      if (oy >= p->rows_delay) {
        const int32_t done = oy - p->rows_delay;
        memcpy(out + (size_t)done * out_row_bytes, rows_scratch + (size_t)(done % ring) * out_row_bytes, out_row_bytes);
      }
      if (oy == out_dims.h - 1) { /* the rows still held back */
        int32_t done;
        for (done = oy - p->rows_delay + 1; done <= oy; ++done) {
          if (done >= 0) memcpy(out + (size_t)done * out_row_bytes, rows_scratch + (size_t)(done % ring) * out_row_bytes,
                                out_row_bytes);
        }
      }
    } else if (!rows_scratch) {
      depthwise_row(p, requant, in_dims, rows, filter_h, filter_w, filter, border, out_dims,
                    out + (size_t)oy * out_row_bytes);
    } else {
      /* in place (stride 1, same size): compute the row aside, keep the input row, then overwrite it */
      depthwise_row(p, requant, in_dims, rows, filter_h, filter_w, filter, border, out_dims, temp);
      if (cached > 0) memcpy(rows_scratch + (size_t)(oy % cached) * row_bytes, in + (size_t)oy * row_bytes, row_bytes);
      memcpy(out + (size_t)oy * row_bytes, temp, row_bytes);
    }
  }
}
