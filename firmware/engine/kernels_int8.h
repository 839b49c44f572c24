/* kernels_int8.h: the int8 operators of the keyword models, bit-exact with LiteRT's reference kernels.
 *
 * Tensors are NHWC with batch 1, int8 activations, int8 weights, int32 biases. Requantization rounding is
 * a compile-time switch: KWS_ROUNDING_DOUBLE=0 (default) is LiteRT's single rounding (BUILTIN_REF of
 * ai-edge-litert 2.3, what our evaluations use); KWS_ROUNDING_DOUBLE=1 is gemmlowp's double rounding
 * (TFLite Micro's reference kernels). Built for a core with the DSP extension (__ARM_FEATURE_DSP, e.g.
 * Cortex-M4), the dot products use its SIMD multiply-accumulate (SMLAD); KWS_NO_SIMD=1 forces the
 * portable path. Both give the same bytes: integer sums are exact either way.
 */
#ifndef KWS_KERNELS_INT8_H_
#define KWS_KERNELS_INT8_H_

#include <stddef.h>
#include <stdint.h>

#ifndef KWS_ROUNDING_DOUBLE
#define KWS_ROUNDING_DOUBLE 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int32_t h, w, c;
} kws_dims_t;

typedef struct {
  int16_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int16_t depth_multiplier;  /* DEPTHWISE_CONV_2D only */
  int32_t input_offset;      /* -input zero point */
  int32_t output_offset;     /* output zero point */
  int32_t act_min, act_max;  /* fused activation as an int8 range */
  int32_t fast;              /* 1: the generator's fast form (see kws_channel_requant_t) */
  int32_t rows_delay;        /* DEPTHWISE_CONV_2D strided in place: output rows held back (see below) */
} kws_conv_params_t;

/* What CONV_2D / DEPTHWISE_CONV_2D need per output channel, precomputed by the generator in the form the
 * kernels use (export/c_model.py). Both forms gather raw input values, the input's zero point standing for
 * taps outside the input, so `bias` = bias + input_offset * (sum of the channel's weights).
 * - fast form (params `fast` = 1; every channel has multiplier > 0, 1 <= -shift <= 22 and
 *   |bias| + 128 * sum |w| < 2^30): weights and `bias` are doubled, so the accumulator is 2x; `rounding` =
 *   2^(e-1) + output_offset * 2^e and `shift` = e = -shift, and gemmlowp's double rounding plus the output
 *   offset is (SMMLAR(acc, multiplier, rounding) - [acc < 0]) >> e (kernels_fixed.h derives it);
 * - generic form: plain weights and bias, `multiplier` / `shift` as TFLite's, `rounding` unused. */
typedef struct {
  int32_t bias, multiplier, rounding, shift;
} kws_channel_requant_t;

/* const weight arrays the SIMD path reads with LDRD */
#if defined(__GNUC__)
#define KWS_ALIGN4 __attribute__((aligned(4)))
#else
#define KWS_ALIGN4
#endif

typedef struct {
  int32_t input_offset, filter_offset, output_offset, act_min, act_max;
  int32_t per_channel;  /* multipliers per output unit (else one) */
} kws_fc_params_t;

typedef struct {
  int16_t stride_h, stride_w, filter_h, filter_w, pad_top, pad_left;
  int32_t act_min, act_max;
} kws_pool_params_t;

typedef struct {
  int32_t input_zero_point, output_zero_point, multiplier, shift;
} kws_mean_params_t;

typedef struct {
  int32_t input_multiplier, input_left_shift, diff_min;
} kws_softmax_params_t;

typedef struct {
  int32_t input1_offset, input2_offset, output_offset, left_shift;
  int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift, output_multiplier, output_shift;
  int32_t act_min, act_max;
} kws_add_params_t;

/* x * multiplier * 2^shift / 2^31, rounded (single or double rounding per KWS_ROUNDING_DOUBLE) */
int32_t kws_requantize(int32_t x, int32_t multiplier, int32_t shift);

/* sum over i of w[i] * (x[i] + x_offset) */
int32_t kws_dot_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t x_offset);

/* `patch`: scratch of 2 * KWS_CONV_PATCH_VALUES(filter_h * filter_w * in_c) int16 values (an even number of
 * groups of 4), 4-byte aligned.
 * `filter`: int16 in the generator's layout (kernels_conv.c: pairs of output channels, groups of 4 values,
 * zero-padded), `requant` one entry per output channel (kws_channel_requant_t). */
#define KWS_CONV_PATCH_VALUES(k) (((k) + 7) & ~7)
void kws_conv2d_s8(const kws_conv_params_t *p, const kws_channel_requant_t *requant, kws_dims_t in_dims,
                   const int8_t *in, int32_t filter_h, int32_t filter_w, const int16_t *filter, kws_dims_t out_dims,
                   int8_t *out, int16_t *patch);

/* `rows_scratch`: NULL, or for an in-place layer (out == in): with stride 1, dilation 1 and output size =
 * input size, (pad_top + 1) input rows of scratch (the rows above the current one are kept there before
 * being overwritten); with a smaller (strided) output, a ring of rows_delay + 1 output rows (each row is
 * computed there and copied over the input rows_delay rows later; the generator chose the delay so that no
 * output row covers an input row still to be read). Filters up to
 * KWS_DEPTHWISE_MAX_FILTER_H rows and KWS_DEPTHWISE_MAX_TAPS taps.
 * `filter`: int16, for each group of 4 output channels (padded) and each tap (fy, fx), the 4 channels' weights
 * in the order c, c+2, c+1, c+3 (the lanes SXTB16 makes of an input word; SMLABB / SMLATT keep them apart).
 * `border`: in_c bytes of the input's zero point (const, from the generator), what taps outside the input read. */
#define KWS_DEPTHWISE_MAX_FILTER_H 16
#define KWS_DEPTHWISE_MAX_TAPS 128
void kws_depthwise_conv2d_s8(const kws_conv_params_t *p, const kws_channel_requant_t *requant, kws_dims_t in_dims,
                             const int8_t *in, int32_t filter_h, int32_t filter_w, const int16_t *filter,
                             const int8_t *border, kws_dims_t out_dims, int8_t *out, int8_t *rows_scratch);

void kws_fully_connected_s8(const kws_fc_params_t *p, const int32_t *multipliers, const int32_t *shifts,
                            int32_t batches, int32_t in_depth, const int8_t *in, int32_t out_depth,
                            const int8_t *weights, const int32_t *bias, int8_t *out);

void kws_average_pool_s8(const kws_pool_params_t *p, kws_dims_t in_dims, const int8_t *in, kws_dims_t out_dims,
                         int8_t *out);

/* MEAN over height and width (axes 1 and 2) */
void kws_mean_hw_s8(const kws_mean_params_t *p, kws_dims_t in_dims, const int8_t *in, int8_t *out);

void kws_softmax_s8(const kws_softmax_params_t *p, int32_t rows, int32_t depth, const int8_t *in, int8_t *out);

void kws_add_s8(const kws_add_params_t *p, int32_t size, const int8_t *in1, const int8_t *in2, int8_t *out);

/* RESHAPE: the generator aliases input and output in the memory plan when it can; else a copy. */
void kws_copy_s8(int32_t size, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KWS_KERNELS_INT8_H_ */
