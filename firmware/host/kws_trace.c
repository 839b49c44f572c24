/* kws_trace: run the generated model on int8 windows and dump every intermediate tensor (a test tool).
 *
 *   kws_trace < windows.bin > trace.bin
 *
 * stdin: windows of KWS_FEATURE_ELEMENTS int8 values, back to back. stdout: per window and per op, a
 * record (int32 op index, int32 tensor index, int32 byte count, the bytes), little-endian host order.
 * Built with -DKWS_TRACE_HOOK (firmware/host/Makefile target `trace`). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kws_model.h"
#include "model_settings.h"

void kws_trace_hook(int op_index, int tensor_index, const int8_t *data, int bytes) {
  int32_t header[3];
  header[0] = op_index;
  header[1] = tensor_index;
  header[2] = bytes;
  fwrite(header, sizeof(header), 1, stdout);
  fwrite(data, 1, (size_t)bytes, stdout);
}

int main(void) {
  static int8_t window[KWS_FEATURE_ELEMENTS];
  while (fread(window, 1, sizeof(window), stdin) == sizeof(window)) {
    memcpy(kws_model_input(), window, sizeof(window));
    kws_model_invoke();
  }
  return 0;
}
