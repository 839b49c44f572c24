#include "kws_app.h"

#include <string.h>

#include "app_config.h"
#include "kws_engine.h"
#include "kws_hal.h"
#include "line_buffer.h"
#include "ring_buffer.h"
#include "serial_cmd.h"

#define FRAME_SAMPLES KWS_APP_FRAME_SAMPLES

#define MAX_EVENTS KWS_MAX_EVENTS(FRAME_SAMPLES)

static int16_t g_ring_storage[KWS_APP_RING_SAMPLES];
static kws_ring_t g_ring;
static kws_cmd_reader_t g_reader;
static kws_app_stats_t g_stats;
static uint64_t g_consumed_samples;
static uint32_t g_dropped_seen;  /* last 32-bit value of the ring's dropped counter we extended */
static uint64_t g_led_off_at_sample;
static int g_led_on;

static void write_line(kws_line_t *line) {
  size_t n = kws_line_end(line);
  kws_hal_serial_write(line->text, n);
}

static void print_text(const char *a, const char *b) {
  kws_line_t line;
  kws_line_start(&line);
  kws_line_str(&line, a);
  if (b) kws_line_str(&line, b);
  write_line(&line);
}

/* The producer's counters are 32-bit (atomic on the M4); extend them here, on the consumer side. */
static void refresh_counters(void) {
  uint32_t dropped = kws_ring_dropped(&g_ring);
  g_stats.dropped_samples += (uint32_t)(dropped - g_dropped_seen);
  g_dropped_seen = dropped;
  g_stats.overruns = kws_ring_overruns(&g_ring);
  g_stats.captured_samples = g_consumed_samples + kws_ring_available(&g_ring) + g_stats.dropped_samples;
}

static uint64_t samples_to_ms(uint64_t samples) { return samples * 1000u / KWS_APP_SAMPLE_RATE_HZ; }

static void print_version(void) {
  kws_line_t line;
  kws_line_start(&line);
  kws_line_str(&line, "version app=" KWS_APP_VERSION " model=" KWS_APP_MODEL_HASH " keywords=");
  int first = 1;
  for (int i = 0; i < KWS_APP_LABEL_COUNT; ++i) {
    if (!kKwsAppReported[i]) continue;
    if (!first) kws_line_str(&line, ",");
    kws_line_str(&line, kKwsAppLabels[i]);
    first = 0;
  }
  kws_line_str(&line, " frontend=" KWS_APP_FRONTEND " stride_frames=");
  kws_line_u64(&line, KWS_APP_STRIDE_FRAMES);
  kws_line_str(&line, " threshold=");
  kws_line_u64(&line, (uint64_t)g_stats.threshold);
  write_line(&line);
}

void kws_app_print_stats(void) {
  kws_line_t line;
  uint64_t audio_us = g_stats.frames * FRAME_SAMPLES * 1000000u / KWS_APP_SAMPLE_RATE_HZ;
  refresh_counters();
  kws_line_start(&line);
  kws_line_str(&line, "stats uptime_ms=");
  kws_line_u64(&line, samples_to_ms(g_stats.captured_samples));
  kws_line_str(&line, " frames=");
  kws_line_u64(&line, g_stats.frames);
  kws_line_str(&line, " detections=");
  kws_line_u64(&line, g_stats.detections);
  kws_line_str(&line, " overruns=");
  kws_line_u64(&line, g_stats.overruns);
  kws_line_str(&line, " dropped_ms=");
  kws_line_u64(&line, samples_to_ms(g_stats.dropped_samples));
  /* duty cycle: processing time per second of audio processed, in percent with one decimal */
  kws_line_str(&line, " duty_pct=");
  kws_line_fixed(&line, audio_us ? (g_stats.busy_us * 1000u + audio_us / 2u) / audio_us : 0u, 1);
  kws_line_str(&line, " max_frame_us=");
  kws_line_u64(&line, g_stats.max_frame_us);
  kws_line_str(&line, " threshold=");
  kws_line_u64(&line, (uint64_t)g_stats.threshold);
  write_line(&line);
}

static void print_threshold(void) {
  kws_line_t line;
  kws_line_start(&line);
  kws_line_str(&line, "threshold ");
  kws_line_u64(&line, (uint64_t)g_stats.threshold);
  write_line(&line);
}

static void handle_command(const kws_cmd_t *cmd) {
  switch (cmd->kind) {
    case KWS_CMD_NONE:
      return;
    case KWS_CMD_THRESHOLD_SET:
#ifdef KWS_ENGINE_HAS_SET_THRESHOLD
      /* the parser already checked 0..255; the engine checks again */
      if (kws_set_threshold(cmd->value) != 0) {
        print_text("error engine refused the threshold", 0);
        return;
      }
      g_stats.threshold = cmd->value;
      print_threshold(); /* confirm the value in force */
#else
      /* This engine compiles the threshold in (KWS_DETECTION_THRESHOLD): say how to change it. */
      print_text("error threshold is built in; rebuild: make flash MODEL=... THRESHOLD=N", 0);
#endif
      return;
    case KWS_CMD_THRESHOLD_GET:
      print_threshold();
      return;
    case KWS_CMD_STATS:
      kws_app_print_stats();
      return;
    case KWS_CMD_VERSION:
      print_version();
      return;
    case KWS_CMD_ERROR:
    default:
      print_text("error ", cmd->error);
      return;
  }
}

/* Device time of an engine event: its time (ms of the audio the engine was given since kws_init; 64-bit,
 * so it never wraps), plus the audio dropped by overruns before that point (the ring's drop marks). */
static uint64_t g_dropped_before_event;
static uint32_t g_dropped_before_seen;

static uint64_t event_device_ms(int64_t engine_ms) {
  uint64_t ms = (uint64_t)engine_ms;
  uint32_t position = (uint32_t)(ms * KWS_APP_SAMPLE_RATE_HZ / 1000u) - 1u; /* the window's last sample */
  uint32_t dropped = kws_ring_dropped_before(&g_ring, position);
  g_dropped_before_event += (uint32_t)(dropped - g_dropped_before_seen);
  g_dropped_before_seen = dropped;
  return ms + samples_to_ms(g_dropped_before_event);
}

static void report(const kws_event_t *event) {
  kws_line_t line;
  int label = (int)event->label_index;
  uint64_t device_ms;
  if (label < 0 || label >= KWS_APP_LABEL_COUNT) return;
  device_ms = event_device_ms(event->time_ms);
  kws_line_start(&line);
  kws_line_u64(&line, device_ms);
  kws_line_str(&line, " ");
  kws_line_str(&line, kKwsAppLabels[label]);
  kws_line_str(&line, " ");
  kws_line_u64(&line, (uint64_t)event->score);
  write_line(&line);
  g_stats.detections++;
  kws_hal_led(kKwsAppColors[label][0], kKwsAppColors[label][1], kKwsAppColors[label][2]);
  g_led_on = 1;
  g_led_off_at_sample = g_stats.captured_samples + (uint64_t)KWS_APP_LED_MS * KWS_APP_SAMPLE_RATE_HZ / 1000u;
}

int kws_app_init(void) {
  memset(&g_stats, 0, sizeof(g_stats));
  g_consumed_samples = 0;
  g_dropped_seen = 0;
  g_dropped_before_event = 0;
  g_dropped_before_seen = 0;
  g_led_on = 0;
  kws_cmd_reader_init(&g_reader);
  kws_ring_init(&g_ring, g_ring_storage, KWS_APP_RING_SAMPLES);
  if (kws_init() != 0) {
    print_text("error engine failed to start", 0);
    return -1;
  }
  g_stats.threshold = KWS_APP_THRESHOLD;
  kws_hal_led(0, 0, 0);
  print_text("ready model=" KWS_APP_MODEL_HASH " (commands: threshold N, stats, version)", 0);
  return 0;
}

int kws_app_audio_in(const int16_t *samples, size_t n) { return kws_ring_write(&g_ring, samples, n); }

uint32_t kws_app_ring_free(void) { return g_ring.capacity - kws_ring_available(&g_ring); }

void kws_app_get_stats(kws_app_stats_t *out) {
  refresh_counters();
  *out = g_stats;
}

int kws_app_poll(void) {
  int16_t frame[FRAME_SAMPLES];
  kws_event_t events[MAX_EVENTS];
  kws_cmd_t cmd;
  int byte, frames = 0;
  while ((byte = kws_hal_serial_read()) >= 0) {
    if (kws_cmd_feed(&g_reader, (uint8_t)byte, &cmd)) handle_command(&cmd);
  }
  while (kws_ring_read(&g_ring, frame, FRAME_SAMPLES)) {
    uint32_t start_us = kws_hal_time_us(), took_us;
    size_t found = kws_push_audio(frame, FRAME_SAMPLES, events);
    took_us = kws_hal_time_us() - start_us;
    g_stats.busy_us += took_us;
    if (took_us > g_stats.max_frame_us) g_stats.max_frame_us = took_us;
    g_consumed_samples += FRAME_SAMPLES;
    g_stats.frames++;
    frames++;
    refresh_counters();
    for (size_t i = 0; i < found; ++i) report(&events[i]);
    /* frees the drop marks read past */
    event_device_ms((int64_t)samples_to_ms(g_consumed_samples));
  }
  refresh_counters();
  if (g_led_on && g_stats.captured_samples >= g_led_off_at_sample) {
    kws_hal_led(0, 0, 0);
    g_led_on = 0;
  }
  return frames;
}
