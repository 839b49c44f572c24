/* fe_dump: int16 samples on stdin -> uint16 front-end frames on stdout (a test tool). Samples are pushed
 * in blocks of varying size (1 to 997 samples) so that streaming state is exercised. */
#include <stdint.h>
#include <stdio.h>

#include "frontend.h"

int main(void) {
  static int16_t samples[1000];
  static kws_frontend_t state;
  uint16_t frame[KWS_FEATURE_CHANNELS];
  uint32_t step = 1;
  kws_frontend_reset(&state);
  for (;;) {
    size_t want = 1 + (step = step * 1103515245u + 12345u) % 997, n = fread(samples, 2, want, stdin), at = 0;
    if (n == 0) break;
    while (at < n) {
      size_t consumed = 0;
      if (kws_frontend_process(&state, samples + at, n - at, &consumed, frame)) {
        fwrite(frame, sizeof(frame), 1, stdout);
      }
      at += consumed;
    }
  }
  return 0;
}
