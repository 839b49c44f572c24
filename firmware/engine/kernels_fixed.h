/* kernels_fixed.h (internal to the engine's kernels): compile-time SIMD selection, gemmlowp / LiteRT
 * fixed-point requantization, clamps and the SXTB16 helpers, shared by kernels_int8.c and kernels_conv.c. */
#ifndef KWS_KERNELS_FIXED_H_
#define KWS_KERNELS_FIXED_H_

#include <stdint.h>

#include "kernels_int8.h"

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
static inline int32_t srdhm(int32_t a, int32_t b) {
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
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* LiteRT single rounding: (x * m + 2^(30 - shift)) >> (31 - shift) in 64 bits */
static inline int32_t requantize_single(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
}

/* gemmlowp double rounding: doubling high multiply, then a rounding shift */
static inline int32_t requantize_double(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(srdhm((int32_t)((uint32_t)x << left), multiplier), right);
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

/* The convolutions' fast form (kws_channel_requant_t): `acc2` = 2 x the accumulator (the generator doubles
 * weights and bias), |acc2| < 2^31, multiplier m > 0, e = -shift in [1, 22], rounding = 2^(e-1) + z 2^e for
 * the output zero point z. SRDHM(x, m) = floor((x m + 2^30) / 2^31) = floor((acc2 m + 2^31) / 2^32), what
 * SMMLAR computes (rounding added to the high word); the rounding shift is floor((y + 2^(e-1) - [y < 0]) /
 * 2^e), where [y < 0] may be read as [x < 0] (see requantize_double_fast) and z 2^e passes through the floor
 * as z. No step overflows under the bounds above (the generator checks them per layer). Five instructions
 * with the store: SMMLAR, SUB (sign), ASR, SSAT, STRB. */
static inline int32_t requantize_fast(int32_t acc2, int32_t multiplier, int32_t rounding, int32_t right) {
#if KWS_SIMD
  int32_t t;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(acc2), "r"(multiplier), "r"(rounding));
#else
  const int32_t t = (int32_t)(((int64_t)rounding * 4294967296LL + (int64_t)acc2 * multiplier + 0x80000000LL) >> 32);
#endif
  return (t - (int32_t)((uint32_t)acc2 >> 31)) >> right;
}

/* Convolutions: LiteRT 2.3's reference CONV_2D / DEPTHWISE_CONV_2D kernels requantize with double
 * rounding (measured against BUILTIN_REF on every element), as TFLM does: both modes round twice. */
static inline int32_t requantize_conv(int32_t x, int32_t multiplier, int32_t shift) {
  if (shift <= -2 && shift >= -31 && multiplier > 0) return requantize_double_fast(x, multiplier, -shift);
  return requantize_double(x, multiplier, shift);
}

/* LiteRT 2.3's reference MEAN rescales with gemmlowp double rounding in either build (measured) */
static inline int32_t requantize_mean(int32_t x, int32_t multiplier, int32_t shift) {
  return requantize_double(x, multiplier, shift);
}

static inline int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* clamp to [-128, 127]: one SSAT on Cortex-M4 */
static inline int32_t saturate_s8(int32_t v) {
#if KWS_SIMD
  return __ssat(v, 8);
#else
  return clamp(v, -128, 127);
#endif
}

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

#endif /* KWS_KERNELS_FIXED_H_ */
