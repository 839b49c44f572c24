/* Unit tests of the application core that need no model: the SPSC ring (including a two-thread stress
 * run: a producer thread racing the consumer, checked sample by sample), the serial command parser and
 * the line formatter. Built and run by tests/test_firmware_app.py (also under ThreadSanitizer). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "line_buffer.h"
#include "ring_buffer.h"
#include "serial_cmd.h"

static int g_failures = 0, g_checks = 0;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    ++g_checks;                                                   \
    if (!(cond)) {                                                \
      ++g_failures;                                               \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
    }                                                             \
  } while (0)

static void test_ring_basics(void) {
  int16_t storage[8], out[8], in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  kws_ring_t ring;
  CHECK(kws_ring_init(&ring, storage, 6) == -1, "capacity 6 accepted");
  CHECK(kws_ring_init(&ring, storage, 8) == 0, "init");
  /* wrap around the end of the storage many times; indices also wrap at 2^32 */
  ring.head = ring.tail = 0xFFFFFFF0u;
  for (int round = 0; round < 100; ++round) {
    CHECK(kws_ring_write(&ring, in, 5) == 1, "write round %d", round);
    CHECK(kws_ring_available(&ring) == 5, "available %u", kws_ring_available(&ring));
    CHECK(kws_ring_read(&ring, out, 6) == 0, "read more than available");
    CHECK(kws_ring_read(&ring, out, 5) == 1, "read");
    CHECK(memcmp(in, out, 5 * sizeof(int16_t)) == 0, "data round %d", round);
  }
  /* overrun: a block that does not fit is dropped whole and counted; the ring is unchanged */
  CHECK(kws_ring_write(&ring, in, 6) == 1, "fill");
  CHECK(kws_ring_write(&ring, in, 3) == 0, "overfill accepted");
  CHECK(kws_ring_overruns(&ring) == 1 && kws_ring_dropped(&ring) == 3, "counters %u %u",
        kws_ring_overruns(&ring), kws_ring_dropped(&ring));
  CHECK(kws_ring_write(&ring, in + 6, 2) == 1, "exact fit");
  CHECK(kws_ring_read(&ring, out, 8) == 1, "read full");
  CHECK(out[5] == 6 && out[6] == 7 && out[7] == 8, "order after overrun %d %d %d", out[5], out[6], out[7]);
  /* drop marks: samples dropped before a given write position */
  kws_ring_init(&ring, storage, 8);
  kws_ring_write(&ring, in, 4);       /* positions 0..3 */
  kws_ring_write(&ring, in, 8);       /* dropped (8) at position 4 */
  kws_ring_write(&ring, in, 2);       /* positions 4..5 */
  kws_ring_write(&ring, in, 5);       /* dropped (5) at position 6 */
  kws_ring_write(&ring, in, 7);       /* dropped (7) at position 6 */
  CHECK(kws_ring_read(&ring, out, 6) == 1, "read 6");
  CHECK(kws_ring_dropped_before(&ring, 3) == 0, "before 3: %u", kws_ring_dropped_before(&ring, 3));
  CHECK(kws_ring_dropped_before(&ring, 4) == 8, "before 4: %u", kws_ring_dropped_before(&ring, 4));
  CHECK(kws_ring_dropped_before(&ring, 5) == 8, "before 5");
  kws_ring_write(&ring, in, 2);       /* positions 6..7 */
  CHECK(kws_ring_dropped_before(&ring, 6) == 20, "before 6: %u", kws_ring_dropped_before(&ring, 6));
}

/* Producer thread: blocks of consecutive sample numbers (mod 2^15) of varying sizes, as fast as it can,
 * mostly with no regard to room: some are dropped. Consumer: reads frames of 320 and checks that every sample
 * continues the previous one, or jumps by exactly a run of whole dropped blocks. */
#ifndef STRESS_BLOCKS
#define STRESS_BLOCKS 40000
#endif
typedef struct {
  kws_ring_t *ring;
  volatile int done;
  unsigned long long written_blocks;
} producer_t;

static int16_t sample_number(unsigned long long n) { return (int16_t)(n & 0x7FFF); }

static void *producer(void *arg) {
  producer_t *p = (producer_t *)arg;
  int16_t block[512];
  unsigned long long next = 0;
  for (int b = 0; b < STRESS_BLOCKS; ++b) {
    size_t n = 64 + (size_t)((b * 37) % 449);
    for (size_t i = 0; i < n; ++i) block[i] = sample_number(next + i);
    if (kws_ring_write(p->ring, block, n)) p->written_blocks++;
    next += n;
    if (b % 4 == 0) { /* now and then wait for the consumer, so both paths (fit, drop) are taken often */
      while (kws_ring_free(p->ring) < n) sched_yield();
    }
  }
  __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void test_ring_two_threads(void) {
  static int16_t storage[4096];
  kws_ring_t ring;
  kws_ring_init(&ring, storage, 4096);
  producer_t p = {&ring, 0, 0};
  pthread_t thread;
  pthread_create(&thread, NULL, producer, &p);
  int16_t frame[320];
  unsigned long long consumed = 0, jumps = 0;
  int have_previous = 0;
  int16_t previous = 0;
  for (;;) {
    int finished = __atomic_load_n(&p.done, __ATOMIC_ACQUIRE);
    while (kws_ring_read(&ring, frame, 320)) {
      for (int i = 0; i < 320; ++i) {
        if (have_previous && frame[i] != (int16_t)((previous + 1) & 0x7FFF)) jumps++;
        previous = frame[i];
        have_previous = 1;
      }
      consumed += 320;
    }
    if (finished) break;
  }
  pthread_join(thread, NULL);
  unsigned long long total = 0;
  for (int b = 0; b < STRESS_BLOCKS; ++b) total += 64 + (unsigned long long)((b * 37) % 449);
  unsigned long long left = kws_ring_available(&ring);
  CHECK(consumed + left + kws_ring_dropped(&ring) == total, "samples lost: %llu + %llu + %u != %llu", consumed, left,
        kws_ring_dropped(&ring), total);
  CHECK(jumps <= kws_ring_overruns(&ring), "%llu discontinuities but %u overruns", jumps, kws_ring_overruns(&ring));
  CHECK(p.written_blocks + kws_ring_overruns(&ring) == STRESS_BLOCKS, "blocks %llu + %u", p.written_blocks,
        kws_ring_overruns(&ring));
  printf("ring stress: %d blocks, %u dropped (overruns), %llu discontinuities, %llu samples read\n", STRESS_BLOCKS,
         kws_ring_overruns(&ring), jumps, consumed);
}

static kws_cmd_t feed(kws_cmd_reader_t *reader, const char *bytes, size_t n, int *lines) {
  kws_cmd_t cmd, last;
  memset(&last, 0, sizeof(last));
  last.kind = KWS_CMD_NONE;
  *lines = 0;
  for (size_t i = 0; i < n; ++i) {
    if (kws_cmd_feed(reader, (uint8_t)bytes[i], &cmd)) {
      ++*lines;
      if (cmd.kind != KWS_CMD_NONE) last = cmd;
    }
  }
  return last;
}

#define FEED(text) feed(&reader, text, sizeof(text) - 1, &lines)

static void test_parser(void) {
  kws_cmd_reader_t reader;
  kws_cmd_t cmd;
  int lines;
  kws_cmd_reader_init(&reader);
  cmd = FEED("threshold 180\n");
  CHECK(cmd.kind == KWS_CMD_THRESHOLD_SET && cmd.value == 180, "kind %d value %d", cmd.kind, cmd.value);
  cmd = FEED("  threshold   0 \r\n");
  CHECK(cmd.kind == KWS_CMD_THRESHOLD_SET && cmd.value == 0 && lines == 2, "spaces, CRLF: %d %d", cmd.kind, lines);
  cmd = FEED("threshold\n");
  CHECK(cmd.kind == KWS_CMD_THRESHOLD_GET, "get");
  cmd = FEED("stats\n");
  CHECK(cmd.kind == KWS_CMD_STATS, "stats");
  cmd = FEED("version\r");
  CHECK(cmd.kind == KWS_CMD_VERSION, "version with CR");
  const char *bad_thresholds[] = {"threshold 256\n", "threshold -1\n", "threshold 12a\n", "threshold 1 2\n",
                                  "threshold 0000\n", "threshold 99999999999999999999\n"};
  for (size_t i = 0; i < sizeof(bad_thresholds) / sizeof(*bad_thresholds); ++i) {
    cmd = feed(&reader, bad_thresholds[i], strlen(bad_thresholds[i]), &lines);
    CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "0..255"), "%s -> %d %s", bad_thresholds[i], cmd.kind,
          cmd.error);
  }
  cmd = FEED("reboot now\n");
  CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "unknown command") && strstr(cmd.error, "'reboot now'"),
        "unknown: %s", cmd.error);
  cmd = FEED("stats please\n");
  CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "no arguments"), "stats arg: %s", cmd.error);
  cmd = FEED("\n\r\n   \n");
  CHECK(cmd.kind == KWS_CMD_NONE && lines == 4, "empty lines: %d", lines);
  /* over-long line: reported once, and the next line is parsed normally */
  char longline[300];
  memset(longline, 'x', sizeof(longline));
  longline[298] = '\n';
  cmd = feed(&reader, longline, 299, &lines);
  CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "too long") && lines == 1, "long: %s", cmd.error);
  cmd = FEED("stats\n");
  CHECK(cmd.kind == KWS_CMD_STATS, "after long line");
  /* "threshold 1" followed by 60 digits must not be cut into a valid command */
  cmd = FEED("threshold 1000000000000000000000000000000000000000000000000000000000000\n");
  CHECK(cmd.kind == KWS_CMD_ERROR, "cut long threshold");
  /* garbage bytes */
  cmd = FEED("sta\x01ts\n");
  CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "unreadable"), "control byte: %s", cmd.error);
  cmd = FEED("\xff\xfe\x80\n");
  CHECK(cmd.kind == KWS_CMD_ERROR && strstr(cmd.error, "unreadable"), "high bytes: %s", cmd.error);
  cmd = FEED("version\n");
  CHECK(cmd.kind == KWS_CMD_VERSION, "recovers after garbage");
  /* random bytes never crash and every error message is printable and terminated */
  unsigned state = 12345;
  for (int i = 0; i < 200000; ++i) {
    state = state * 1103515245u + 12345u;
    uint8_t byte = (uint8_t)(state >> 16);
    if (kws_cmd_feed(&reader, byte, &cmd) && cmd.kind == KWS_CMD_ERROR) {
      size_t n = strlen(cmd.error);
      int printable = n > 0 && n < sizeof(cmd.error);
      for (size_t k = 0; k < n; ++k) printable &= cmd.error[k] >= 0x20 && cmd.error[k] < 0x7f;
      if (!printable) { CHECK(printable, "unprintable error after random byte %d", i); break; }
    }
  }
}

static void test_line(void) {
  kws_line_t line;
  kws_line_start(&line);
  kws_line_u64(&line, 0);
  kws_line_str(&line, " ");
  kws_line_u64(&line, 18446744073709551615ull);
  kws_line_str(&line, " ");
  kws_line_fixed(&line, 1234, 1);
  kws_line_str(&line, " ");
  kws_line_fixed(&line, 5, 2);
  kws_line_end(&line);
  CHECK(strcmp(line.text, "0 18446744073709551615 123.4 0.05\n") == 0, "got %s", line.text);
  kws_line_start(&line);
  for (int i = 0; i < 100; ++i) kws_line_str(&line, "abcdefgh");
  size_t n = kws_line_end(&line);
  CHECK(n == KWS_LINE_MAX - 1 && line.text[n - 1] == '\n', "overflow kept %zu", n);
}

int main(void) {
  test_ring_basics();
  test_parser();
  test_line();
  test_ring_two_threads();
  printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
