/* The wake-word application on a Cortex-M4 under QEMU (machine mps2-an386, run with -icount shift=0 so
 * one virtual nanosecond is one instruction):
 *   audio_in:   raw 16-kHz mono int16 little-endian samples from the file named on the semihosting command
 *               line, delivered in 256-sample blocks whenever the ring has room (as kws_sim does);
 *   serial_out: the CMSDK UART0 (QEMU -serial stdio); no input;
 *   led:        none (recorded nowhere);
 *   time:       the CMSDK timer 0 (25 MHz of virtual time), calibrated at start by a loop of 2,000,000
 *               instructions (as firmware/m4 does); kws_hal_time_us() returns instructions / 64, the
 *               microseconds a 64-MHz core would take at one instruction a cycle.
 * At the end of the audio it prints "end audio_ms=N" (as kws_sim), the app's stats line, and
 * "qemu instructions=N audio_ms=N stack_bytes=N": every instruction run while the last audio_ms of audio
 * went through, counted from the first full model window on (one second of audio: before it the engine
 * runs no inference, so counting it would understate the steady duty cycle), then the same for the whole
 * run (total_instructions=N total_audio_ms=N). */
#include <stddef.h>
#include <stdint.h>

#include "kws_app.h"
#include "kws_hal.h"
#include "line_buffer.h"

#define UART0_DATA (*(volatile uint32_t *)0x40004000u)
#define UART0_STATE (*(volatile uint32_t *)0x40004004u)
#define UART0_CTRL (*(volatile uint32_t *)0x40004008u)
#define UART0_BAUDDIV (*(volatile uint32_t *)0x40004010u)
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)
#define CALIBRATION_INSTRUCTIONS 2000000u
#define BLOCK_SAMPLES 256
#define STEADY_AFTER_SAMPLES 16000u /* one model window */

uint32_t kws_stack_used_bytes(void);

/* ---- semihosting (ARM's bkpt 0xAB convention; QEMU: -semihosting-config enable=on,target=native) */
static int semihost(int op, void *arg) {
  register int r0 __asm("r0") = op;
  register void *r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void kws_semihost_exit(int code) {
  uint32_t args[2] = {code == 0 ? 0x20026u : 0x20024u, (uint32_t)code}; /* ApplicationExit / RunTimeError */
  semihost(0x20, args); /* SYS_EXIT_EXTENDED */
  semihost(0x18, (void *)(uintptr_t)args[0]);
  for (;;) {
  }
}

static void semihost_error(const char *text) {
  semihost(0x04, (void *)text); /* SYS_WRITE0 to QEMU's stderr/stdout */
}

/* ---- HAL */
void kws_hal_serial_write(const char *bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    while (UART0_STATE & 1u) {
    } /* TX buffer full */
    UART0_DATA = (uint8_t)bytes[i];
  }
}

int kws_hal_serial_read(void) { return -1; }

void kws_hal_led(uint8_t red, uint8_t green, uint8_t blue) {
  (void)red;
  (void)green;
  (void)blue;
}

static uint64_t g_ticks;
static uint32_t g_last_value;
static uint64_t g_calibration_ticks = 1;

static uint64_t ticks_now(void) {
  uint32_t value = TIMER0_VALUE; /* counts down */
  g_ticks += (uint32_t)(g_last_value - value);
  g_last_value = value;
  return g_ticks;
}

static uint64_t instructions_now(void) { return ticks_now() * CALIBRATION_INSTRUCTIONS / g_calibration_ticks; }

uint32_t kws_hal_time_us(void) { return (uint32_t)(instructions_now() / 64u); }

static void calibrate(void) { /* 1,000,000 x (subs, bne) */
  uint64_t start = ticks_now();
  uint32_t n = 1000000u;
  __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");
  g_calibration_ticks = ticks_now() - start;
}

int main(void) {
  static char cmdline[256];
  static int16_t block[BLOCK_SAMPLES];
  uint32_t args[3];
  UART0_BAUDDIV = 16u;
  UART0_CTRL = 1u; /* TX enable */
  TIMER0_RELOAD = 0xFFFFFFFFu;
  TIMER0_VALUE = 0xFFFFFFFFu;
  g_last_value = 0xFFFFFFFFu;
  TIMER0_CTRL = 1u; /* enable, no interrupt */
  calibrate();
  args[0] = (uint32_t)(uintptr_t)cmdline;
  args[1] = sizeof(cmdline);
  if (semihost(0x15, args) != 0) { /* SYS_GET_CMDLINE: "<program> <audio.raw>" */
    semihost_error("hal_qemu: no semihosting command line\n");
    return 2;
  }
  const char *path = cmdline;
  while (*path && *path != ' ') ++path;
  while (*path == ' ') ++path;
  size_t path_length = 0;
  while (path[path_length] && path[path_length] != ' ') ++path_length;
  if (path_length == 0) {
    semihost_error("hal_qemu: give the raw audio file as the semihosting argument\n");
    return 2;
  }
  ((char *)path)[path_length] = '\0';
  args[0] = (uint32_t)(uintptr_t)path;
  args[1] = 1; /* "rb" */
  args[2] = (uint32_t)path_length;
  int handle = semihost(0x01, args); /* SYS_OPEN */
  if (handle < 0) {
    semihost_error("hal_qemu: cannot open the audio file\n");
    return 2;
  }
  if (kws_app_init() != 0) return 3;
  uint64_t samples = 0, start_instructions = 0, start_samples = 0, run_start_instructions = instructions_now();
  int steady = 0;
  for (;;) {
    args[0] = (uint32_t)handle;
    args[1] = (uint32_t)(uintptr_t)block;
    args[2] = sizeof(block);
    int not_read = semihost(0x06, args); /* SYS_READ: returns the bytes NOT read */
    size_t got = (sizeof(block) - (size_t)not_read) / 2u;
    if (got == 0) break;
    while (kws_app_ring_free() < got) kws_app_poll();
    kws_app_audio_in(block, got);
    samples += got;
    kws_app_poll();
    if (!steady && samples >= STEADY_AFTER_SAMPLES) {
      steady = 1;
      start_instructions = instructions_now();
      start_samples = samples;
    }
  }
  kws_app_poll();
  args[0] = (uint32_t)handle;
  semihost(0x02, args); /* SYS_CLOSE */
  kws_line_t line;
  kws_line_start(&line);
  kws_line_str(&line, "end audio_ms=");
  kws_line_u64(&line, samples * 1000u / 16000u);
  kws_hal_serial_write(line.text, kws_line_end(&line));
  kws_app_print_stats();
  kws_line_start(&line);
  kws_line_str(&line, "qemu instructions=");
  kws_line_u64(&line, steady ? instructions_now() - start_instructions : 0);
  kws_line_str(&line, " audio_ms=");
  kws_line_u64(&line, (samples - start_samples) * 1000u / 16000u);
  kws_line_str(&line, " total_instructions=");
  kws_line_u64(&line, instructions_now() - run_start_instructions);
  kws_line_str(&line, " total_audio_ms=");
  kws_line_u64(&line, samples * 1000u / 16000u);
  kws_line_str(&line, " stack_bytes=");
  kws_line_u64(&line, kws_stack_used_bytes());
  kws_hal_serial_write(line.text, kws_line_end(&line));
  return 0;
}
