/* See ring_buffer.h. GCC/Clang __atomic builtins give the acquire/release ordering: on a Cortex-M4 they
 * compile to plain loads/stores with a DMB, and on the host they order the two pthreads of the stress test. */
#include "ring_buffer.h"

#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int kws_ring_init(kws_ring_t *ring, int16_t *storage, uint32_t capacity) {
  if (capacity < 2 || (capacity & (capacity - 1)) != 0 || storage == 0) return -1;
  ring->samples = storage;
  ring->capacity = capacity;
  ring->head = ring->tail = 0;
  ring->overruns = ring->dropped = 0;
  ring->marks_head = ring->marks_tail = ring->last_mark_position = 0;
  return 0;
}

int kws_ring_write(kws_ring_t *ring, const int16_t *samples, size_t n) {
  uint32_t head = ring->head; /* ours */
  uint32_t tail = LOAD_ACQUIRE(&ring->tail);
  uint32_t free_slots = ring->capacity - (head - tail);
  if (n > free_slots) {
    uint32_t before = ring->dropped, mark = ring->marks_head;
    /* the mark goes out before the total grows: a consumer that sees the new total also sees the mark */
    if ((mark == 0 || ring->last_mark_position != head) && mark - LOAD_ACQUIRE(&ring->marks_tail) < KWS_RING_MARKS) {
      ring->marks[mark % KWS_RING_MARKS].position = head;
      ring->marks[mark % KWS_RING_MARKS].dropped_before = before;
      ring->last_mark_position = head;
      STORE_RELEASE(&ring->marks_head, mark + 1u);
    }
    STORE_RELEASE(&ring->dropped, before + (uint32_t)n);
    STORE_RELEASE(&ring->overruns, ring->overruns + 1u);
    return 0;
  }
  uint32_t mask = ring->capacity - 1u;
  for (size_t i = 0; i < n; ++i) ring->samples[(head + (uint32_t)i) & mask] = samples[i];
  STORE_RELEASE(&ring->head, head + (uint32_t)n);
  return 1;
}

uint32_t kws_ring_free(const kws_ring_t *ring) {
  return ring->capacity - (ring->head - LOAD_ACQUIRE(&ring->tail));
}

uint32_t kws_ring_available(const kws_ring_t *ring) {
  return LOAD_ACQUIRE(&ring->head) - ring->tail;
}

int kws_ring_read(kws_ring_t *ring, int16_t *out, size_t n) {
  uint32_t tail = ring->tail; /* ours */
  uint32_t head = LOAD_ACQUIRE(&ring->head);
  if ((uint32_t)(head - tail) < n) return 0;
  uint32_t mask = ring->capacity - 1u;
  for (size_t i = 0; i < n; ++i) out[i] = ring->samples[(tail + (uint32_t)i) & mask];
  STORE_RELEASE(&ring->tail, tail + (uint32_t)n);
  return 1;
}

uint32_t kws_ring_dropped_before(kws_ring_t *ring, uint32_t position) {
  uint32_t total = LOAD_ACQUIRE(&ring->dropped);
  uint32_t tail = ring->marks_tail, head = LOAD_ACQUIRE(&ring->marks_head);
  /* marks at or before `position` are drops before it: done with them */
  while (tail != head && (int32_t)(ring->marks[tail % KWS_RING_MARKS].position - position) <= 0) ++tail;
  STORE_RELEASE(&ring->marks_tail, tail);
  /* the first drop after `position` knows the total before it; with none, every drop so far came before */
  return tail != head ? ring->marks[tail % KWS_RING_MARKS].dropped_before : total;
}

uint32_t kws_ring_overruns(const kws_ring_t *ring) { return LOAD_RELAXED(&ring->overruns); }

uint32_t kws_ring_dropped(const kws_ring_t *ring) { return LOAD_RELAXED(&ring->dropped); }
