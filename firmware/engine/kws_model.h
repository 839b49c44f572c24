/* kws_model.h: the interface of a generated model (`python -m export c-model` writes kws_model.c): the
 * layer sequence as plain C calls over const weights and one static activation buffer. */
#ifndef KWS_MODEL_H_
#define KWS_MODEL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where to write the int8 input (KWS_FEATURE_FRAMES x KWS_FEATURE_CHANNELS values, frame-major). */
int8_t *kws_model_input(void);

/* Run every layer; returns the int8 output (KWS_CATEGORY_COUNT values), valid until the next call. */
const int8_t *kws_model_invoke(void);

/* Bytes of the static activation buffer (the memory plan's high-water mark), of kernel scratch (CONV_2D
 * patch, rows kept by in-place DEPTHWISE_CONV_2D) and multiply-accumulates of one inference. */
extern const uint32_t kws_model_arena_bytes;
extern const uint32_t kws_model_scratch_bytes;
extern const uint32_t kws_model_macs;

#ifdef __cplusplus
}
#endif

#endif /* KWS_MODEL_H_ */
