/* Reset handler and vector table for QEMU's mps2-an386 (Cortex-M4F): copy .data, zero .bss, paint the
 * stack (to measure its high-water mark), enable the FPU, run main(). */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_bottom, __stack_top;
extern int main(void);
void kws_reset_handler(void);
void kws_semihost_exit(int code);

#define STACK_PAINT 0xA5A5A5A5u

static void fault_handler(void) { kws_semihost_exit(99); }

__attribute__((section(".vectors"), used)) static const void *const g_vectors[16] = {
    &__stack_top, (const void *)kws_reset_handler, (const void *)fault_handler, (const void *)fault_handler,
    (const void *)fault_handler, (const void *)fault_handler, (const void *)fault_handler, 0, 0, 0, 0,
    (const void *)fault_handler, (const void *)fault_handler, 0, (const void *)fault_handler,
    (const void *)fault_handler,
};

uint32_t kws_stack_used_bytes(void) {
  const uint32_t *p = &__stack_bottom;
  while (p < &__stack_top && *p == STACK_PAINT) ++p;
  return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

__attribute__((naked, noreturn)) void kws_reset_handler(void) {
  __asm volatile(
      "ldr r0, =__stack_top\n"
      "mov sp, r0\n"
      "b kws_reset_c\n");
}

__attribute__((noreturn, used)) void kws_reset_c(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end; ++dst) *dst = 0;
  /* paint the stack below the current frame */
  uint32_t *sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (dst = &__stack_bottom; dst < sp - 16; ++dst) *dst = STACK_PAINT;
  /* CPACR: full access to CP10/CP11 (the FPU), then flush the pipeline */
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
  __asm volatile("dsb\nisb");
  kws_semihost_exit(main());
  for (;;) {
  }
}
