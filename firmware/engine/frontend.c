/* frontend.c: the micro-frontend in fixed point (see frontend.h). Integer semantics follow TensorFlow's
 * audio_microfrontend op step by step, including its wrap-arounds (int16 stores in the FFT, the uint32
 * energy of a full-scale bin), so that every frame is bit-exact; where a line looks odd, that is why. */
#include "frontend.h"

#include <string.h>

/* Fixed-point constants of the micro-frontend (not configuration: they define its number formats). */
#define FE_WINDOW_BITS 12
#define FE_FILTERBANK_BITS 12
#define FE_NOISE_REDUCTION_BITS 14
#define FE_PCAN_SNR_BITS 12
#define FE_PCAN_OUTPUT_BITS 6
#define FE_LOG_SCALE_LOG2 16
#define FE_LOG_SEGMENTS_LOG2 7
#define FE_LOG_COEFF 45426u /* round(ln(2) * 2^16) */

typedef struct {
  int16_t r, i;
} fe_cpx_t;

static int msb32(uint32_t x) { /* index of the highest set bit, 1-based; 0 for 0 */
  return x == 0 ? 0 : 32 - __builtin_clz(x);
}

static int msb64(uint64_t x) {
  return (x >> 32) ? 32 + msb32((uint32_t)(x >> 32)) : msb32((uint32_t)x);
}

/* ------------------------------------------------------------------ FFT (kiss_fft int16 arithmetic) */

static int16_t fe_round15(int32_t x) { return (int16_t)((x + (1 << 14)) >> 15); }

static fe_cpx_t fe_mul(fe_cpx_t a, fe_cpx_t b) {
  fe_cpx_t m;
  m.r = fe_round15((int32_t)a.r * b.r - (int32_t)a.i * b.i);
  m.i = fe_round15((int32_t)a.r * b.i + (int32_t)a.i * b.r);
  return m;
}

static void fe_div(fe_cpx_t *c, int32_t divisor) { /* scales by (32767 / divisor) / 32768 */
  c->r = fe_round15((int32_t)c->r * (32767 / divisor));
  c->i = fe_round15((int32_t)c->i * (32767 / divisor));
}

static fe_cpx_t fe_twiddle(size_t index) {
  fe_cpx_t t;
  t.r = kws_fe_twiddles[2 * index];
  t.i = kws_fe_twiddles[2 * index + 1];
  return t;
}

static void fe_butterfly2(fe_cpx_t *out, size_t fstride, size_t m) {
  fe_cpx_t *out2 = out + m;
  size_t k;
  for (k = 0; k < m; ++k) {
    fe_cpx_t t;
    fe_div(&out[k], 2);
    fe_div(&out2[k], 2);
    t = fe_mul(out2[k], fe_twiddle(k * fstride));
    out2[k].r = (int16_t)(out[k].r - t.r);
    out2[k].i = (int16_t)(out[k].i - t.i);
    out[k].r = (int16_t)(out[k].r + t.r);
    out[k].i = (int16_t)(out[k].i + t.i);
  }
}

static void fe_butterfly4(fe_cpx_t *out, size_t fstride, size_t m) {
  size_t k;
  for (k = 0; k < m; ++k) {
    fe_cpx_t *a = out + k, *b = out + k + m, *c = out + k + 2 * m, *d = out + k + 3 * m;
    fe_cpx_t s0, s1, s2, s3, s4, s5;
    fe_div(a, 4);
    fe_div(b, 4);
    fe_div(c, 4);
    fe_div(d, 4);
    s0 = fe_mul(*b, fe_twiddle(k * fstride));
    s1 = fe_mul(*c, fe_twiddle(2 * k * fstride));
    s2 = fe_mul(*d, fe_twiddle(3 * k * fstride));
    s5.r = (int16_t)(a->r - s1.r);
    s5.i = (int16_t)(a->i - s1.i);
    a->r = (int16_t)(a->r + s1.r);
    a->i = (int16_t)(a->i + s1.i);
    s3.r = (int16_t)(s0.r + s2.r);
    s3.i = (int16_t)(s0.i + s2.i);
    s4.r = (int16_t)(s0.r - s2.r);
    s4.i = (int16_t)(s0.i - s2.i);
    c->r = (int16_t)(a->r - s3.r);
    c->i = (int16_t)(a->i - s3.i);
    a->r = (int16_t)(a->r + s3.r);
    a->i = (int16_t)(a->i + s3.i);
    b->r = (int16_t)(s5.r + s4.i);
    b->i = (int16_t)(s5.i - s4.r);
    d->r = (int16_t)(s5.r - s4.i);
    d->i = (int16_t)(s5.i + s4.r);
  }
}

/* Mixed-radix decimation in time, the same decomposition order as kiss_fft (factors from the host). */
static void fe_fft_stage(fe_cpx_t *out, const int16_t *in, size_t fstride, const int16_t *factors) {
  const size_t p = (size_t)factors[0], m = (size_t)factors[1];
  size_t j;
  if (m == 1) { /* `in` holds complex values as (re, im) int16 pairs */
    for (j = 0; j < p; ++j) {
      out[j].r = in[2 * j * fstride];
      out[j].i = in[2 * j * fstride + 1];
    }
  } else {
    for (j = 0; j < p; ++j) fe_fft_stage(out + j * m, in + 2 * j * fstride, fstride * p, factors + 2);
  }
  if (p == 4) {
    fe_butterfly4(out, fstride, m);
  } else {
    fe_butterfly2(out, fstride, m);
  }
}

/* Real FFT of KWS_FE_FFT_SIZE int16 samples: bins 0..FFT_SIZE/2 into `spectrum`. */
static void fe_rfft(const int16_t *time, fe_cpx_t *spectrum) {
  enum { half = KWS_FE_FFT_SIZE / 2 };
  static fe_cpx_t packed[half];
  fe_cpx_t dc;
  size_t k;
  fe_fft_stage(packed, time, 1, kws_fe_fft_factors);
  dc = packed[0];
  fe_div(&dc, 2);
  spectrum[0].r = (int16_t)(dc.r + dc.i);
  spectrum[half].r = (int16_t)(dc.r - dc.i);
  spectrum[0].i = spectrum[half].i = 0;
  for (k = 1; k <= half / 2; ++k) {
    fe_cpx_t fpk = packed[k], fpnk, f1k, f2k, tw, super;
    fpnk.r = packed[half - k].r;
    fpnk.i = (int16_t)(-packed[half - k].i);
    fe_div(&fpk, 2);
    fe_div(&fpnk, 2);
    f1k.r = (int16_t)(fpk.r + fpnk.r);
    f1k.i = (int16_t)(fpk.i + fpnk.i);
    f2k.r = (int16_t)(fpk.r - fpnk.r);
    f2k.i = (int16_t)(fpk.i - fpnk.i);
    super.r = kws_fe_super_twiddles[2 * (k - 1)];
    super.i = kws_fe_super_twiddles[2 * (k - 1) + 1];
    tw = fe_mul(f2k, super);
    spectrum[k].r = (int16_t)((f1k.r + tw.r) >> 1);
    spectrum[k].i = (int16_t)((f1k.i + tw.i) >> 1);
    spectrum[half - k].r = (int16_t)((f1k.r - tw.r) >> 1);
    spectrum[half - k].i = (int16_t)((tw.i - f1k.i) >> 1);
  }
}

/* ------------------------------------------------------------------ filterbank */

static uint16_t fe_sqrt32(uint32_t num) { /* bit-by-bit square root, rounded, as the TF op */
  uint32_t res = 0, bit;
  int top, steps;
  if (num == 0) return 0;
  top = (32 - msb32(num)) | 1;
  bit = 1u << (31 - top);
  for (steps = (31 - top) / 2 + 1; steps > 0; --steps) {
    if (num >= res + bit) {
      num -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  if (num > res && res != 0xFFFFu) ++res;
  return (uint16_t)res;
}

static uint32_t fe_sqrt64(uint64_t num) {
  uint64_t res = 0, bit;
  int top, steps;
  if ((num >> 32) == 0) return fe_sqrt32((uint32_t)num); /* the op's 32-bit shortcut, kept for exactness */
  top = (64 - msb64(num)) | 1;
  bit = (uint64_t)1 << (63 - top);
  for (steps = (63 - top) / 2 + 1; steps > 0; --steps) {
    if (num >= res + bit) {
      num -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  if (num > res && res != 0xFFFFFFFFull) ++res;
  return (uint32_t)res;
}

/* Mel channels: channel c takes weight * energy of its bins plus (1 - weight) * energy of channel c-1's. */
static void fe_filterbank(const fe_cpx_t *spectrum, int input_shift, uint32_t *out) {
  uint64_t carry = 0;
  size_t c, offset = 0;
  for (c = 0; c <= KWS_FEATURE_CHANNELS; ++c) {
    const size_t start = (size_t)kws_fe_channel_starts[c], width = (size_t)kws_fe_channel_widths[c];
    uint64_t weighted = carry, unweighted = 0;
    size_t j;
    for (j = 0; j < width; ++j) {
      const int32_t re = spectrum[start + j].r, im = spectrum[start + j].i;
      /* the op keeps |X|^2 in an int32 (only -32768^2 * 2 wraps) and widens it signed */
      const int32_t energy = (int32_t)((uint32_t)(re * re) + (uint32_t)(im * im));
      const uint64_t wide = (uint64_t)(int64_t)energy;
      weighted += (uint64_t)(int64_t)kws_fe_weights[offset + j] * wide;
      unweighted += (uint64_t)(int64_t)kws_fe_unweights[offset + j] * wide;
    }
    offset += width;
    if (c > 0) out[c - 1] = fe_sqrt64(weighted) >> input_shift;
    carry = unweighted;
  }
}

/* ------------------------------------------------------------------ noise reduction, PCAN, log */

static void fe_noise_reduction(uint32_t *estimate, uint32_t *signal) {
  size_t i;
  for (i = 0; i < KWS_FEATURE_CHANNELS; ++i) {
    const uint32_t smoothing = (i & 1) == 0 ? KWS_FE_EVEN_SMOOTHING_Q14 : KWS_FE_ODD_SMOOTHING_Q14;
    const uint32_t keep = (1u << FE_NOISE_REDUCTION_BITS) - smoothing;
    const uint32_t scaled = signal[i] << KWS_FE_SMOOTHING_BITS;
    uint32_t level = (uint32_t)(((uint64_t)scaled * smoothing + (uint64_t)estimate[i] * keep) >>
                                FE_NOISE_REDUCTION_BITS);
    uint32_t floor_value, subtracted;
    estimate[i] = level;
    if (level > scaled) level = scaled;
    floor_value = (uint32_t)(((uint64_t)signal[i] * KWS_FE_MIN_SIGNAL_REMAINING_Q14) >> FE_NOISE_REDUCTION_BITS);
    subtracted = (scaled - level) >> KWS_FE_SMOOTHING_BITS;
    signal[i] = subtracted > floor_value ? subtracted : floor_value;
  }
}

#if KWS_FE_PCAN
static int16_t fe_pcan_gain(uint32_t x) { /* piecewise quadratic of the gain curve, per power of two */
  const int16_t *lut = kws_fe_pcan_gain_lut;
  int16_t interval, frac;
  int32_t result;
  if (x <= 2) return lut[x];
  interval = (int16_t)msb32(x);
  lut += 4 * interval - 6;
  frac = (int16_t)(((interval < 11) ? (x << (11 - interval)) : (x >> (interval - 11))) & 0x3FF);
  result = ((int32_t)lut[2] * frac) >> 5;
  result += (int32_t)((uint32_t)lut[1] << 5);
  result *= frac;
  result = (result + (1 << 14)) >> 15;
  result += lut[0];
  return (int16_t)result;
}

static uint32_t fe_pcan_shrink(uint32_t x) {
  if (x < (2u << FE_PCAN_SNR_BITS)) return (x * x) >> (2 + 2 * FE_PCAN_SNR_BITS - FE_PCAN_OUTPUT_BITS);
  return (x >> (FE_PCAN_SNR_BITS - FE_PCAN_OUTPUT_BITS)) - (1u << FE_PCAN_OUTPUT_BITS);
}

static void fe_pcan(const uint32_t *estimate, uint32_t *signal) {
  size_t i;
  for (i = 0; i < KWS_FEATURE_CHANNELS; ++i) {
    const uint32_t gain = (uint32_t)fe_pcan_gain(estimate[i]);
    const uint32_t snr = (uint32_t)(((uint64_t)signal[i] * gain) >> KWS_FE_PCAN_SNR_SHIFT);
    signal[i] = fe_pcan_shrink(snr);
  }
}
#endif

#if KWS_FE_LOG_SCALE
static uint32_t fe_log2_fraction(uint32_t x, uint32_t log2x) {
  int32_t frac = (int32_t)(x - ((uint32_t)1 << log2x));
  uint32_t segment;
  int32_t c0, c1, segment_base, relative;
  if (log2x < FE_LOG_SCALE_LOG2) {
    frac <<= FE_LOG_SCALE_LOG2 - log2x;
  } else {
    frac >>= log2x - FE_LOG_SCALE_LOG2;
  }
  segment = (uint32_t)frac >> (FE_LOG_SCALE_LOG2 - FE_LOG_SEGMENTS_LOG2);
  c0 = kws_fe_log_lut[segment];
  c1 = kws_fe_log_lut[segment + 1];
  segment_base = (int32_t)(((1u << FE_LOG_SCALE_LOG2) >> FE_LOG_SEGMENTS_LOG2) * segment);
  relative = ((c1 - c0) * (frac - segment_base)) >> FE_LOG_SCALE_LOG2;
  return (uint32_t)(frac + c0 + relative);
}

static uint32_t fe_log(uint32_t x) {
  const uint32_t integer = (uint32_t)msb32(x) - 1;
  const uint32_t log2 = (integer << FE_LOG_SCALE_LOG2) + fe_log2_fraction(x, integer);
  const uint32_t round = (1u << FE_LOG_SCALE_LOG2) / 2;
  const uint32_t loge = (uint32_t)(((uint64_t)FE_LOG_COEFF * log2 + round) >> FE_LOG_SCALE_LOG2);
  return ((loge << KWS_FE_LOG_SCALE_SHIFT) + round) >> FE_LOG_SCALE_LOG2;
}
#endif

/* ------------------------------------------------------------------ the pipeline */

void kws_frontend_reset(kws_frontend_t *state) { memset(state, 0, sizeof(*state)); }

int kws_frontend_process(kws_frontend_t *state, const int16_t *samples, size_t n, size_t *consumed,
                         uint16_t *out) {
  static int16_t windowed[KWS_FE_FFT_SIZE];
  static fe_cpx_t spectrum[KWS_FE_FFT_SIZE / 2 + 1];
  static uint32_t signal[KWS_FEATURE_CHANNELS];
  size_t take = KWS_FE_WINDOW_SAMPLES - state->input_used, i;
  int16_t max_abs = 0;
  int shift;
  if (take > n) take = n;
  memcpy(state->input + state->input_used, samples, take * sizeof(*samples));
  state->input_used += take;
  *consumed = take;
  if (state->input_used < KWS_FE_WINDOW_SAMPLES) return 0;

  for (i = 0; i < KWS_FE_WINDOW_SAMPLES; ++i) {
    int16_t value = (int16_t)(((int32_t)state->input[i] * kws_fe_window[i]) >> FE_WINDOW_BITS);
    windowed[i] = value;
    if (value < 0) value = (int16_t)-value; /* -32768 stays negative, as in the op */
    if (value > max_abs) max_abs = value;
  }
  memmove(state->input, state->input + KWS_FE_STRIDE_SAMPLES,
          (KWS_FE_WINDOW_SAMPLES - KWS_FE_STRIDE_SAMPLES) * sizeof(*state->input));
  state->input_used -= KWS_FE_STRIDE_SAMPLES;

  /* scale up for FFT resolution; undone after the square root */
  shift = 15 - msb32((uint32_t)(int32_t)max_abs);
  for (i = 0; i < KWS_FE_WINDOW_SAMPLES; ++i) windowed[i] = (int16_t)((uint16_t)windowed[i] << shift);
  for (; i < KWS_FE_FFT_SIZE; ++i) windowed[i] = 0;
  fe_rfft(windowed, spectrum);
  fe_filterbank(spectrum, shift, signal);
  fe_noise_reduction(state->noise_estimate, signal);
#if KWS_FE_PCAN
  fe_pcan(state->noise_estimate, signal);
#endif
  for (i = 0; i < KWS_FEATURE_CHANNELS; ++i) {
    uint32_t value = signal[i];
#if KWS_FE_LOG_SCALE
#if KWS_FE_CORRECTION_BITS < 0
    value >>= -(KWS_FE_CORRECTION_BITS);
#else
    value <<= KWS_FE_CORRECTION_BITS;
#endif
    value = value > 1 ? fe_log(value) : 0;
#endif
    out[i] = (uint16_t)(value < 0xFFFFu ? value : 0xFFFFu);
  }
  return 1;
}

int8_t kws_frontend_to_int8(uint16_t value) {
  const int32_t numerator = (int32_t)value * KWS_FE_INT8_MULTIPLIER + KWS_FE_INT8_OFFSET;
  /* floor division, as Python's // */
  int32_t q = numerator >= 0 ? numerator / KWS_FE_INT8_DIVISOR
                             : -((-numerator + KWS_FE_INT8_DIVISOR - 1) / KWS_FE_INT8_DIVISOR);
  q += KWS_FE_INT8_ZERO_POINT;
  if (q < -128) q = -128;
  if (q > 127) q = 127;
  return (int8_t)q;
}
