/* The board-specific part of the wake-word application: four small services, implemented once per
 * platform (firmware/nano33ble: the Arduino Nano 33 BLE Sense; firmware/host: the simulator over a
 * pseudo-terminal; firmware/qemu: a Cortex-M4 under QEMU). Everything else is the same code.
 *
 * audio_in:   the platform calls kws_app_audio_in() (kws_app.h) from its capture callback with each block
 *             of 16 kHz mono int16 samples, as it arrives; this is the ring buffer's producer side.
 * serial_out: kws_hal_serial_write() sends bytes (whole lines); kws_hal_serial_read() returns the next
 *             received byte or -1.
 * led:        kws_hal_led() shows a colour (0..255 per channel; all zero = off).
 * millis:     the application keeps time itself as a 64-bit count of captured samples (no overflow in
 *             practice, unlike milliseconds*16 in 32 bits); kws_hal_time_us() is only a processing clock
 *             for the duty cycle and frame latency (wraps ignored: differences of a few ms are taken). */
#ifndef KWS_HAL_H_
#define KWS_HAL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void kws_hal_serial_write(const char *bytes, size_t n);
int kws_hal_serial_read(void);
void kws_hal_led(uint8_t red, uint8_t green, uint8_t blue);
uint32_t kws_hal_time_us(void);

#ifdef __cplusplus
}
#endif

#endif /* KWS_HAL_H_ */
