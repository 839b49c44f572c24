/* kws_engine.c: audio -> front end -> frame history -> model every KWS_STRIDE_FRAMES frames ->
 * RecognizeCommands -> events. Same windows and times as kws.streaming.StreamingDetector. */
#include "kws_engine.h"

#include <string.h>

#include "frontend.h"
#include "kws_model.h"
#include "recognize.h"

static kws_frontend_t g_frontend;
static kws_recognizer_t g_recognizer;
static int8_t g_frames[KWS_FEATURE_FRAMES][KWS_FEATURE_CHANNELS]; /* ring: the last window of frames */
static uint64_t g_frames_seen; /* 64-bit: stream time never wraps */
/* 32-bit positions for the ring and the stride, so the M4 needs no 64-bit division per frame */
static uint32_t g_ring_next;    /* slot of g_frames the next frame goes to */
static uint32_t g_stride_phase; /* frames since the last window end (valid once the history is full) */
static uint32_t g_inferences;
static int32_t g_scores[KWS_CATEGORY_COUNT];

static const uint8_t k_reported[KWS_CATEGORY_COUNT] = {KWS_REPORTED_MASK};

int kws_init(void) {
  kws_frontend_reset(&g_frontend);
  kws_recognizer_reset(&g_recognizer);
  memset(g_frames, 0, sizeof(g_frames));
  memset(g_scores, 0, sizeof(g_scores));
  g_frames_seen = 0;
  g_ring_next = 0;
  g_stride_phase = 0;
  g_inferences = 0;
  return 0;
}

const char *kws_label(int32_t index) {
  return (index >= 0 && index < KWS_CATEGORY_COUNT) ? kKwsCategoryLabels[index] : NULL;
}

int32_t kws_label_count(void) { return KWS_CATEGORY_COUNT; }

const int32_t *kws_last_scores(void) { return g_scores; }

uint32_t kws_frames_processed(void) { return (uint32_t)g_frames_seen; }

int kws_set_threshold(int threshold) {
  if (threshold < 0 || threshold > 255) return -1;
  g_recognizer.threshold = threshold;
  return 0;
}

int kws_get_threshold(void) { return (int)g_recognizer.threshold; }

uint32_t kws_inferences_run(void) { return g_inferences; }

size_t kws_push_features(const int8_t *frame, kws_event_t *out) {
  const uint64_t end = g_frames_seen; /* index of this frame in the stream */
  int8_t *input;
  const int8_t *output;
  kws_recognition_t decision;
  uint32_t k;
  int64_t time_ms;
  int32_t i;
  const uint32_t slot = g_ring_next;
  memcpy(g_frames[slot], frame, KWS_FEATURE_CHANNELS);
  g_ring_next = (slot + 1 == KWS_FEATURE_FRAMES) ? 0 : slot + 1;
  g_frames_seen++;
  /* a window ends at frames KWS_FEATURE_FRAMES - 1, then every KWS_STRIDE_FRAMES frames */
  if (end + 1 < KWS_FEATURE_FRAMES) return 0;
  if (end + 1 > KWS_FEATURE_FRAMES) g_stride_phase = (g_stride_phase + 1 == KWS_STRIDE_FRAMES) ? 0 : g_stride_phase + 1;
  if (g_stride_phase != 0) return 0;
  /* the window ending at this frame, oldest frame first (the oldest is in the slot after this one) */
  input = kws_model_input();
  for (k = 0; k < KWS_FEATURE_FRAMES; ++k) {
    memcpy(input + (size_t)k * KWS_FEATURE_CHANNELS, g_frames[(slot + 1 + k) % KWS_FEATURE_FRAMES],
           KWS_FEATURE_CHANNELS);
  }
  output = kws_model_invoke();
  g_inferences++;
  for (i = 0; i < KWS_CATEGORY_COUNT; ++i) g_scores[i] = (int32_t)output[i] - KWS_OUTPUT_ZERO_POINT;
  /* a window's time: when its last frame is complete */
  time_ms = (int64_t)end * KWS_FEATURE_STRIDE_MS + KWS_FEATURE_WINDOW_MS;
  if (kws_recognizer_process(&g_recognizer, g_scores, time_ms, &decision) != 0) return 0;
  if (!decision.is_new || !k_reported[decision.label_index]) return 0;
  out->label_index = decision.label_index;
  out->score = decision.score;
  out->time_ms = time_ms;
  return 1;
}

size_t kws_push_audio(const int16_t *samples, size_t n, kws_event_t *out) {
  uint16_t values[KWS_FEATURE_CHANNELS];
  int8_t frame[KWS_FEATURE_CHANNELS];
  size_t found = 0;
  while (n > 0) {
    size_t consumed = 0, c;
    if (kws_frontend_process(&g_frontend, samples, n, &consumed, values)) {
      for (c = 0; c < KWS_FEATURE_CHANNELS; ++c) frame[c] = kws_frontend_to_int8(values[c]);
      found += kws_push_features(frame, out + found);
    }
    samples += consumed;
    n -= consumed;
  }
  return found;
}
