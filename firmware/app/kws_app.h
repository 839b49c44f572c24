/* The wake-word application, the same on the board, the host simulator and QEMU (see kws_hal.h):
 * audio blocks from the capture callback go into a lock-free ring (kws_app_audio_in, producer side);
 * kws_app_poll() (the main loop, consumer side) cuts them into 20 ms frames for the engine, prints each
 * detection as one line "t_ms keyword score", lights the LED in the keyword's colour, and answers the
 * serial commands of serial_cmd.h. Time is the 64-bit count of captured samples (dropped ones included,
 * so detection times stay on the device's clock across overruns). */
#ifndef KWS_APP_H_
#define KWS_APP_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t captured_samples;  /* consumed + waiting + dropped: the device clock */
  uint64_t frames;            /* 20 ms frames given to the engine */
  uint64_t detections;
  uint32_t overruns;          /* capture blocks dropped because the ring was full */
  uint64_t dropped_samples;
  uint64_t busy_us;           /* processing clock spent in the engine */
  uint32_t max_frame_us;      /* longest single frame */
  int threshold;
} kws_app_stats_t;

/* Initialises engine and ring; prints the "ready" line. Returns 0, or -1 if the engine failed. */
int kws_app_init(void);

/* Producer (capture callback / interrupt): one block of mono int16 samples at the model's rate.
 * Returns 1, or 0 when the ring was full and the block was dropped (counted as an overrun). */
int kws_app_audio_in(const int16_t *samples, size_t n);

/* Consumer (main loop): handles serial input and every complete frame waiting. Returns frames processed. */
int kws_app_poll(void);

/* Free space in the ring, in samples (a host HAL uses it to pace delivery without overruns). */
uint32_t kws_app_ring_free(void);

void kws_app_get_stats(kws_app_stats_t *out);

/* Prints the stats line (as the `stats` command does). */
void kws_app_print_stats(void);

#ifdef __cplusplus
}
#endif

#endif /* KWS_APP_H_ */
