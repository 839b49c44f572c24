/* kws_wav: stream a WAV file through the engine and print its detections, the same lines as
 * `python -m kws detect --model DIR file.wav`:
 *
 *   kws_wav [--threshold N] file.wav
 *       1.52 s  akawuka  score 212
 *   1 detection(s) in 15.0 s of audio (threshold 200, C engine)
 *
 * --threshold N (0..255) sets the engine's threshold at run time (kws_set_threshold) instead of the built-in
 * one.
 * The WAV must be 16-bit PCM, mono, at the model's sample rate (convert others with sox/ffmpeg first).
 * Built by `make firmware-host MODEL=models/kws-lg`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include "kws_engine.h"

#define BLOCK_SAMPLES 512

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static int fail(const char *path, const char *why) {
  fprintf(stderr, "kws_wav: %s: %s\n", path, why);
  return 2;
}

int main(int argc, char **argv) {
  const char *path;
  FILE *file;
  unsigned char header[12], chunk[8], format[16];
  uint32_t data_bytes = 0;
  int have_format = 0;
  unsigned long total = 0, detections = 0;
  static unsigned char raw[BLOCK_SAMPLES * 2];
  static int16_t samples[BLOCK_SAMPLES];
  static kws_event_t events[KWS_MAX_EVENTS(BLOCK_SAMPLES)];
  long threshold = -1;
  int have_threshold = 0;
  if (argc == 4 && !strcmp(argv[1], "--threshold")) {
    char *end;
    threshold = strtol(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0') return fail(argv[2], "--threshold takes a number 0..255");
    have_threshold = 1;
  } else if (argc != 2) {
    fprintf(stderr, "usage: kws_wav [--threshold N] file.wav  (16-bit PCM mono, %d Hz)\n", KWS_SAMPLE_RATE_HZ);
    return 2;
  }
  path = argv[argc - 1];
  file = fopen(path, "rb");
  if (!file) return fail(path, "cannot open");
  if (fread(header, 1, 12, file) != 12 || memcmp(header, "RIFF", 4) || memcmp(header + 8, "WAVE", 4)) {
    return fail(path, "not a RIFF/WAVE file");
  }
  for (;;) { /* walk the chunks up to "data" */
    uint32_t size;
    if (fread(chunk, 1, 8, file) != 8) return fail(path, "no data chunk");
    size = le32(chunk + 4);
    if (!memcmp(chunk, "fmt ", 4)) {
      if (size < 16 || fread(format, 1, 16, file) != 16) return fail(path, "short fmt chunk");
      if (fseek(file, (long)(size - 16 + (size & 1)), SEEK_CUR)) return fail(path, "truncated");
      have_format = 1;
    } else if (!memcmp(chunk, "data", 4)) {
      data_bytes = size;
      break;
    } else if (fseek(file, (long)(size + (size & 1)), SEEK_CUR)) {
      return fail(path, "truncated");
    }
  }
  if (!have_format) return fail(path, "no fmt chunk before the data");
  if (le16(format) != 1 || le16(format + 14) != 16) return fail(path, "not 16-bit PCM");
  if (le16(format + 2) != 1) return fail(path, "not mono");
  if (le32(format + 4) != KWS_SAMPLE_RATE_HZ) return fail(path, "sample rate differs from the model's");

  kws_init();
  /* the engine range-checks: out-of-int values are mapped to -1 so they cannot wrap into range */
  if (have_threshold && kws_set_threshold(threshold < INT_MIN || threshold > INT_MAX ? -1 : (int)threshold) != 0) {
    return fail(argv[2], "threshold out of range 0..255 (the engine refused it)");
  }
  for (;;) {
    size_t want = sizeof(raw), got, n, i, found;
    if (data_bytes - total * 2 < want) want = data_bytes - total * 2;
    got = want ? fread(raw, 1, want, file) : 0;
    n = got / 2;
    if (n == 0) break;
    for (i = 0; i < n; ++i) samples[i] = (int16_t)le16(raw + 2 * i);
    total += n;
    found = kws_push_audio(samples, n, events);
    for (i = 0; i < found; ++i) {
      printf("%9.2f s  %s  score %d\n", events[i].time_ms / 1000.0, kws_label(events[i].label_index),
             (int)events[i].score);
    }
    detections += found;
  }
  fclose(file);
  printf("%lu detection(s) in %.1f s of audio (threshold %d, C engine)\n", detections,
         (double)total / KWS_SAMPLE_RATE_HZ, kws_get_threshold());
  return 0;
}
