/* kws_speed: inferences per second of the generated model on this host (a benchmark tool).
 *   kws_speed N < windows.bin   -> "inferences <count> seconds <wall>"; cycles through the windows */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kws_model.h"
#include "model_settings.h"

#define MAX_WINDOWS 64

int main(int argc, char **argv) {
  static int8_t windows[MAX_WINDOWS][KWS_FEATURE_ELEMENTS];
  long count = argc > 1 ? atol(argv[1]) : 1000, i;
  size_t have = 0;
  struct timespec start, end;
  volatile int8_t sink = 0;
  while (have < MAX_WINDOWS && fread(windows[have], 1, KWS_FEATURE_ELEMENTS, stdin) == KWS_FEATURE_ELEMENTS) have++;
  if (have == 0) return 2;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (i = 0; i < count; ++i) {
    memcpy(kws_model_input(), windows[i % have], KWS_FEATURE_ELEMENTS);
    sink ^= kws_model_invoke()[0];
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  printf("inferences %ld seconds %.6f\n", count,
         (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec));
  return sink == 127 ? 0 : 0;
}
