/* Instruction counting under QEMU -icount shift=0 (one virtual ns per instruction): SysTick on the
 * processor clock, 24-bit reload counted by SysTick_Handler. Debian's QEMU has no plugins and DWT_CYCCNT
 * reads 0, so this counts instructions, not cycles. */
#ifndef KWS_M4_CLOCK_H_
#define KWS_M4_CLOCK_H_

#include <stdint.h>

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

extern volatile uint32_t kws_systick_wraps;

static inline void m4_clock_start(void) {
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 0x7u; /* enable, interrupt, processor clock */
  while (SYST_CVR == 0) { /* the first reload happens on the first tick: count from there */
  }
  kws_systick_wraps = 0;
}

/* SysTick ticks since m4_clock_start() (monotonic). */
static inline uint64_t m4_ticks(void) {
  uint32_t wraps, value;
  do {
    wraps = kws_systick_wraps;
    value = SYST_CVR;
  } while (wraps != kws_systick_wraps);
  return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - value);
}

#endif
