/* Minimal Cortex-M4 start-up for QEMU's mps2-an386: vector table (initial stack, reset, SysTick), FPU on,
 * then newlib's semihosting start (_start: .bss, argv from QEMU's -append, main, exit code to QEMU). */
#include <stdint.h>

extern uint32_t __stack;
extern void _start(void);
void Reset_Handler(void);
void SysTick_Handler(void);
static void Default_Handler(void) {
  for (;;) {
  }
}

volatile uint32_t kws_systick_wraps; /* SysTick reloads since start (m4_clock.h) */

void SysTick_Handler(void) { kws_systick_wraps++; }

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&__stack), Reset_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler, Default_Handler, 0, Default_Handler,
    SysTick_Handler};

void Reset_Handler(void) {
  /* CPACR: full access to CP10/CP11 (the FPU), required by -mfloat-abi=hard code */
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
  __asm volatile("dsb\n isb");
  _start();
  for (;;) {
  }
}
