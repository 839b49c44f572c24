/* recognize.c: RecognizeCommands, step for step the rules documented in kws/streaming.py. */
#include "recognize.h"

#include <string.h>

#define KWS_INFINITE_MS INT64_MAX

void kws_recognizer_reset(kws_recognizer_t *state) {
  memset(state, 0, sizeof(*state));
  state->threshold = KWS_DETECTION_THRESHOLD;
}

static kws_result_t *oldest(kws_recognizer_t *state) { return &state->queue[state->head]; }

int kws_recognizer_process(kws_recognizer_t *state, const int32_t *scores, int64_t time_ms,
                           kws_recognition_t *result) {
  int32_t sums[KWS_CATEGORY_COUNT];
  int32_t i, k, top = 0, top_score = 0;
  int64_t since;
  kws_result_t *slot;
  /* 1. order check, then push (the queue holds at most the results of one window: sized by the
   *    generator as average_window_ms / (stride_frames * stride_ms) + 1; if a caller feeds results faster,
   *    the oldest is dropped) */
  if (state->count > 0 && time_ms < oldest(state)->time_ms) return -1;
  if (state->count == KWS_RESULT_QUEUE_CAPACITY) {
    state->head = (state->head + 1) % KWS_RESULT_QUEUE_CAPACITY;
    state->count--;
  }
  slot = &state->queue[(state->head + state->count) % KWS_RESULT_QUEUE_CAPACITY];
  slot->time_ms = time_ms;
  for (i = 0; i < KWS_CATEGORY_COUNT; ++i) slot->scores[i] = (uint8_t)scores[i];
  state->count++;
  /* 2. drop results strictly older than the window */
  while (state->count > 0 && oldest(state)->time_ms < time_ms - KWS_AVERAGE_WINDOW_MS) {
    state->head = (state->head + 1) % KWS_RESULT_QUEUE_CAPACITY;
    state->count--;
  }
  /* 3. enough results, spanning enough time? */
  if (state->count < KWS_MINIMUM_COUNT || time_ms - oldest(state)->time_ms < KWS_AVERAGE_WINDOW_MS / 4) {
    result->label_index = state->previous_top;
    result->score = 0;
    result->is_new = 0;
    return 0;
  }
  /* 4. integer averages; 5. first class with the largest average */
  memset(sums, 0, sizeof(sums));
  for (k = 0; k < state->count; ++k) {
    const kws_result_t *queued = &state->queue[(state->head + k) % KWS_RESULT_QUEUE_CAPACITY];
    for (i = 0; i < KWS_CATEGORY_COUNT; ++i) sums[i] += queued->scores[i];
  }
  for (i = 0; i < KWS_CATEGORY_COUNT; ++i) {
    const int32_t average = sums[i] / state->count; /* sums are >= 0: truncation is floor */
    if (average > top_score) {
      top = i;
      top_score = average;
    }
  }
  /* 6. time since the previous top (infinite after silence or at the start) */
  since = (state->previous_top == 0 || !state->has_previous_top_time)
              ? KWS_INFINITE_MS : time_ms - state->previous_top_time_ms;
  /* 7. a new command? */
  result->label_index = top;
  result->score = top_score;
  result->is_new = 0;
  if (top_score > state->threshold && (top != state->previous_top || since > KWS_SUPPRESSION_MS)) {
    state->previous_top = top;
    state->previous_top_time_ms = time_ms;
    state->has_previous_top_time = 1;
    result->is_new = 1;
  }
  return 0;
}
