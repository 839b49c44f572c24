/* size_main: the smallest firmware that links the whole engine (front end, model, RecognizeCommands), to
 * measure flash and RAM with arm-none-eabi-size. Audio would come from the PDM microphone. */
#include "kws_engine.h"

volatile int16_t g_mic_block[KWS_FE_STRIDE_SAMPLES];
volatile int32_t g_last_label;

int main(void) {
  kws_event_t events[KWS_MAX_EVENTS(KWS_FE_STRIDE_SAMPLES)];
  kws_init();
  for (;;) {
    size_t found = kws_push_audio((const int16_t *)g_mic_block, KWS_FE_STRIDE_SAMPLES, events);
    if (found) g_last_label = events[0].label_index;
  }
}
