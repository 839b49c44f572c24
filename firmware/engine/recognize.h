/* recognize.h: TFLM's RecognizeCommands with the exact integer rules of kws/streaming.py (the Python class
 * is the oracle of the tests). Parameters and the queue size come from the generated model_settings.h. */
#ifndef KWS_RECOGNIZE_H_
#define KWS_RECOGNIZE_H_

#include <stdint.h>

#include "model_settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Times are 64-bit ms: an always-on stream never wraps (int32 ms would after 24.8 days). */
typedef struct {
  int64_t time_ms;
  uint8_t scores[KWS_CATEGORY_COUNT];
} kws_result_t;

typedef struct {
  kws_result_t queue[KWS_RESULT_QUEUE_CAPACITY];  /* ring buffer of the results inside the window */
  int32_t head, count;
  int32_t previous_top;
  int64_t previous_top_time_ms;
  int32_t has_previous_top_time;
  int32_t threshold;  /* detection threshold 0..255; KWS_DETECTION_THRESHOLD after reset */
} kws_recognizer_t;

typedef struct {
  int32_t label_index;
  int32_t score;
  int32_t is_new;
} kws_recognition_t;

/* Clears the state and sets the threshold to the built-in KWS_DETECTION_THRESHOLD. */
void kws_recognizer_reset(kws_recognizer_t *state);

/* One result (scores 0..255 per class, times non-decreasing). Returns -1 when time goes backwards (the
 * result is ignored), else 0 with the decision in *result. */
int kws_recognizer_process(kws_recognizer_t *state, const int32_t *scores, int64_t time_ms,
                           kws_recognition_t *result);

#ifdef __cplusplus
}
#endif

#endif /* KWS_RECOGNIZE_H_ */
