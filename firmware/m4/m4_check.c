/* m4_check: the engine on Cortex-M4 under QEMU, reading and writing host files through semihosting.
 *
 *   fe_in.bin  int16 samples      -> fe_out.bin   uint16 front-end frames
 *   windows.bin int8 model inputs -> trace.bin    every intermediate tensor (kws_trace's format)
 *
 * and prints instruction counts: a calibration loop, per front-end frame and per inference. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "frontend.h"
#include "kws_model.h"
#include "m4_clock.h"
#include "model_settings.h"

static FILE *g_trace;
#define MAX_OPS 64
static uint64_t g_op_ticks[MAX_OPS], g_op_start; /* per-layer instruction counts of the timed runs */

void kws_trace_hook(int op_index, int tensor_index, const int8_t *data, int bytes) {
  int32_t header[3];
  if (!g_trace) {
    const uint64_t now = m4_ticks();
    if (op_index >= 0 && op_index < MAX_OPS) g_op_ticks[op_index] += now - g_op_start;
    g_op_start = now;
    return;
  }
  header[0] = op_index;
  header[1] = tensor_index;
  header[2] = bytes;
  fwrite(header, sizeof(header), 1, g_trace);
  fwrite(data, 1, (size_t)bytes, g_trace);
}

static uint64_t calibrate(void) { /* 3,000,000 instructions: 1,000,000 x (subs, bne) + setup */
  uint64_t start = m4_ticks();
  uint32_t n = 1000000u;
  __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");
  return m4_ticks() - start;
}

int main(void) {
  static int16_t samples[KWS_FE_STRIDE_SAMPLES];
  static kws_frontend_t state;
  static int8_t window[KWS_FEATURE_ELEMENTS];
  uint16_t frame[KWS_FEATURE_CHANNELS];
  uint64_t fe_ticks = 0, model_ticks = 0, loop_ticks;
  unsigned long frames = 0, inferences = 0;
  FILE *in, *out;
  m4_clock_start();
  loop_ticks = calibrate();
  in = fopen("fe_in.bin", "rb");
  out = fopen("fe_out.bin", "wb");
  if (in && out) {
    size_t n;
    kws_frontend_reset(&state);
    while ((n = fread(samples, 2, KWS_FE_STRIDE_SAMPLES, in)) > 0) {
      size_t at = 0;
      while (at < n) {
        size_t consumed = 0;
        uint64_t start = m4_ticks();
        int made = kws_frontend_process(&state, samples + at, n - at, &consumed, frame);
        fe_ticks += m4_ticks() - start;
        if (made) {
          fwrite(frame, sizeof(frame), 1, out);
          frames++;
        }
        at += consumed;
      }
    }
  }
  if (in) fclose(in);
  if (out) fclose(out);
  in = fopen("windows.bin", "rb");
  g_trace = fopen("trace.bin", "wb");
  if (in && g_trace) {
    while (fread(window, 1, sizeof(window), in) == sizeof(window)) {
      uint64_t start;
      memcpy(kws_model_input(), window, sizeof(window));
      kws_model_invoke();
      {
        FILE *keep = g_trace; /* timed run without tracing: the instruction count */
        g_trace = NULL;
        memcpy(kws_model_input(), window, sizeof(window));
        start = m4_ticks();
        g_op_start = start;
        kws_model_invoke();
        model_ticks += m4_ticks() - start;
        g_trace = keep;
      }
      inferences++;
    }
  }
  if (in) fclose(in);
  if (g_trace) fclose(g_trace);
  printf("calibration_ticks %lu\nframes %lu\nfrontend_ticks %lu\ninferences %lu\nmodel_ticks %lu\nmacs %lu\n",
         (unsigned long)loop_ticks, frames, (unsigned long)fe_ticks, inferences, (unsigned long)model_ticks,
         (unsigned long)kws_model_macs);
  {
    int op;
    for (op = 0; op < MAX_OPS; ++op) {
      if (g_op_ticks[op]) printf("op_ticks_%d %lu\n", op, (unsigned long)g_op_ticks[op]);
    }
  }
  return 0;
}
