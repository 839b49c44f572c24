/* kws_sim: the wake-word application (firmware/app) on the host, with a HAL that plays a WAV file as the
 * microphone and a pseudo-terminal as the serial port, so `python -m kws monitor --port /dev/pts/N`
 * talks to it exactly as to a board.
 *
 *   kws_sim [--serial pty|stdio] [--pty-link PATH] [--wait] [--realtime] [--burst K] [--hold-s S]
 *           [--stats-at-end] [--dropped-log FILE] [--verbose] file.wav
 *
 * Audio is delivered in 256-sample blocks (the mbed PDM driver's 512-byte half buffers). By default a
 * block is delivered only when the ring has room (as fast as the host runs, no overruns); --realtime
 * paces delivery at 16 kHz; --burst K delivers K blocks between main-loop iterations whether or not they
 * fit (a processing stall: overruns are dropped and counted; --dropped-log lists the dropped blocks' indices). --wait holds the audio back until the first
 * byte arrives from the serial side (the monitor's greeting). After the file, the HAL prints
 * "end audio_ms=N" and keeps serving commands for --hold-s seconds (default 1). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kws_app.h"
#include "kws_hal.h"
#include "wav_reader.h"

#define BLOCK_SAMPLES 256

static int g_serial_out = 1;  /* fd the serial lines go to */
static int g_serial_in = -1;  /* fd commands come from (-1: none) */
static int g_verbose = 0;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void kws_hal_serial_write(const char *bytes, size_t n) {
  while (n > 0) {
    ssize_t written = write(g_serial_out, bytes, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { usleep(1000); continue; }
      fprintf(stderr, "kws_sim: serial write failed: %s\n", strerror(errno));
      exit(3);
    }
    bytes += written;
    n -= (size_t)written;
  }
}

int kws_hal_serial_read(void) {
  unsigned char byte;
  if (g_serial_in < 0) return -1;
  ssize_t got = read(g_serial_in, &byte, 1);
  return got == 1 ? byte : -1;
}

void kws_hal_led(uint8_t red, uint8_t green, uint8_t blue) {
  if (g_verbose) fprintf(stderr, "kws_sim: led %u,%u,%u\n", red, green, blue);
}

uint32_t kws_hal_time_us(void) { return (uint32_t)now_us(); }

static int open_pty(const char *link_path) {
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    fprintf(stderr, "kws_sim: cannot create a pseudo-terminal: %s\n", strerror(errno));
    exit(3);
  }
  const char *name = ptsname(master);
  /* Keep the device side open ourselves and make it raw: no echo of our lines back to us, no newline
   * translation, and the master never sees a hang-up when a monitor disconnects and reconnects. */
  int device = open(name, O_RDWR | O_NOCTTY);
  struct termios tio;
  if (device < 0 || tcgetattr(device, &tio) != 0) {
    fprintf(stderr, "kws_sim: cannot open %s: %s\n", name, strerror(errno));
    exit(3);
  }
  cfmakeraw(&tio);
  tcsetattr(device, TCSANOW, &tio);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  if (link_path) {
    unlink(link_path);
    if (symlink(name, link_path) != 0) {
      fprintf(stderr, "kws_sim: cannot link %s -> %s: %s\n", link_path, name, strerror(errno));
      exit(3);
    }
  }
  printf("pty %s\n", name);
  fflush(stdout);
  return master;
}

static void wait_for_input(void) {
  struct pollfd pfd = {g_serial_in, POLLIN, 0};
  while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
}

static void usage(void) {
  fprintf(stderr, "usage: kws_sim [--serial pty|stdio] [--pty-link PATH] [--wait] [--realtime] [--burst K] "
                  "[--hold-s S] [--stats-at-end] [--verbose] file.wav\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *path = NULL, *serial = "pty", *link_path = NULL;
  FILE *dropped_log = NULL;
  int wait = 0, realtime = 0, burst = 0, stats_at_end = 0;
  double hold_s = 1.0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--serial") && i + 1 < argc) serial = argv[++i];
    else if (!strcmp(argv[i], "--pty-link") && i + 1 < argc) link_path = argv[++i];
    else if (!strcmp(argv[i], "--wait")) wait = 1;
    else if (!strcmp(argv[i], "--realtime")) realtime = 1;
    else if (!strcmp(argv[i], "--burst") && i + 1 < argc) burst = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--hold-s") && i + 1 < argc) hold_s = atof(argv[++i]);
    else if (!strcmp(argv[i], "--verbose")) g_verbose = 1;
    else if (!strcmp(argv[i], "--stats-at-end")) stats_at_end = 1;
    else if (!strcmp(argv[i], "--dropped-log") && i + 1 < argc) {
      dropped_log = fopen(argv[++i], "w");
      if (!dropped_log) { fprintf(stderr, "kws_sim: cannot write %s: %s\n", argv[i], strerror(errno)); return 2; }
    }
    else if (argv[i][0] == '-' || path) usage();
    else path = argv[i];
  }
  if (!path || burst < 0 || (strcmp(serial, "pty") && strcmp(serial, "stdio"))) usage();

  kws_wav_t wav;
  char error[256];
  if (kws_wav_open(&wav, path, error, sizeof(error)) != 0) {
    fprintf(stderr, "kws_sim: %s\n", error);
    return 2;
  }
  if (wav.sample_rate_hz != 16000) {
    fprintf(stderr, "kws_sim: %s: %u Hz; the application captures 16000 Hz mono int16 (resample it first)\n",
            path, wav.sample_rate_hz);
    return 2;
  }
  if (!strcmp(serial, "pty")) {
    g_serial_out = g_serial_in = open_pty(link_path);
  } else {
    g_serial_out = 1;
    g_serial_in = 0;
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  }
  if (kws_app_init() != 0) return 3;
  if (wait && g_serial_in >= 0) wait_for_input();

  int16_t block[BLOCK_SAMPLES];
  uint64_t delivered = 0, start_us = now_us(), block_index = 0;
  size_t got;
  int in_burst = 0;
  while ((got = kws_wav_read(&wav, block, BLOCK_SAMPLES)) > 0) {
    if (realtime) {
      uint64_t due_us = start_us + (delivered + got) * 1000000u / 16000u;
      uint64_t t;
      while ((t = now_us()) < due_us) {
        kws_app_poll();
        usleep((useconds_t)((due_us - t) > 2000 ? 2000 : (due_us - t)));
      }
    } else if (burst == 0) {
      while (kws_app_ring_free() < got) kws_app_poll();
    }
    if (!kws_app_audio_in(block, got) && dropped_log) fprintf(dropped_log, "%llu\n", (unsigned long long)block_index);
    block_index++;
    delivered += got;
    if (burst == 0 || ++in_burst >= burst) {
      in_burst = 0;
      kws_app_poll();
    }
  }
  if (wav.error[0]) {
    fprintf(stderr, "kws_sim: %s\n", wav.error);
    return 2;
  }
  kws_app_poll();
  char line[64];
  int n = snprintf(line, sizeof(line), "end audio_ms=%llu\n", (unsigned long long)(delivered * 1000u / 16000u));
  kws_hal_serial_write(line, (size_t)n);
  if (stats_at_end) kws_app_print_stats();
  uint64_t hold_until = now_us() + (uint64_t)(hold_s * 1e6);
  while (now_us() < hold_until) {
    kws_app_poll();
    usleep(2000);
  }
  kws_wav_close(&wav);
  if (dropped_log) fclose(dropped_log);
  return 0;
}
