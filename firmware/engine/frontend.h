/* frontend.h: TensorFlow's micro-frontend (audio_microfrontend op) in fixed point, streaming.
 *
 * KWS_FE_STRIDE_SAMPLES new samples in -> one frame of KWS_FEATURE_CHANNELS uint16 values out (window
 * KWS_FE_WINDOW_SAMPLES): Hann window, int16 real FFT (kiss_fft fixed-point arithmetic), mel filterbank
 * energies, square root, noise reduction, PCAN gain control, log scale; then the model's int8 mapping.
 * Every parameter comes from the generated model_settings.h and every table (window, FFT twiddles,
 * filterbank weights, PCAN gain curve, log correction) is computed on the host by `python -m export
 * c-model` the way the TF op computes it, and shipped as const arrays (kws_frontend_tables.c): no float
 * math runs on the device, so compilers and FPUs cannot change a value.
 */
#ifndef KWS_FRONTEND_H_
#define KWS_FRONTEND_H_

#include <stddef.h>
#include <stdint.h>

#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tables (generated) */
extern const int16_t kws_fe_window[KWS_FE_WINDOW_SAMPLES];
extern const int16_t kws_fe_twiddles[2 * KWS_FE_FFT_SIZE / 2];  /* complex (re, im) of the half-size FFT */
extern const int16_t kws_fe_super_twiddles[2 * KWS_FE_FFT_SIZE / 4];
extern const int16_t kws_fe_fft_factors[2 * KWS_FE_FFT_FACTOR_PAIRS];
extern const int16_t kws_fe_channel_starts[KWS_FEATURE_CHANNELS + 1];  /* first FFT bin of a channel */
extern const int16_t kws_fe_channel_widths[KWS_FEATURE_CHANNELS + 1];
extern const int16_t kws_fe_weights[KWS_FE_FILTERBANK_WEIGHTS];
extern const int16_t kws_fe_unweights[KWS_FE_FILTERBANK_WEIGHTS];
extern const int16_t kws_fe_pcan_gain_lut[KWS_FE_PCAN_LUT_SIZE];
extern const uint16_t kws_fe_log_lut[KWS_FE_LOG_LUT_SIZE];

typedef struct {
  int16_t input[KWS_FE_WINDOW_SAMPLES];  /* samples of the window being filled */
  size_t input_used;
  uint32_t noise_estimate[KWS_FEATURE_CHANNELS];
} kws_frontend_t;

void kws_frontend_reset(kws_frontend_t *state);

/* Consume up to n samples (stops after the first completed frame). *consumed tells how many were read.
 * Returns 1 and writes `out` (KWS_FEATURE_CHANNELS values) when a frame completed, else 0. */
int kws_frontend_process(kws_frontend_t *state, const int16_t *samples, size_t n, size_t *consumed,
                         uint16_t *out);

/* The model's int8 input of one uint16 value: clip(floor((v*mult + offset) / divisor) + zero_point). */
int8_t kws_frontend_to_int8(uint16_t value);

#ifdef __cplusplus
}
#endif

#endif /* KWS_FRONTEND_H_ */
