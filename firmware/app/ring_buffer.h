/* Lock-free single-producer / single-consumer ring of int16 audio samples.
 *
 * The producer is the audio interrupt (PDM callback on the board, the HAL's delivery loop on the host and
 * under QEMU); the consumer is the application loop. Indices are free-running uint32 counters (wrap at
 * 2^32, capacity a power of two), each written by one side only, so no lock is needed: the producer
 * publishes `head` with a release store after copying samples, the consumer publishes `tail` after
 * reading them. A block that does not fit is dropped whole and counted (an overrun), so the samples in
 * the ring are always a contiguous run of what was captured, minus whole dropped blocks. The first drop at
 * each write position also leaves a mark (position, dropped total before it) in a small SPSC queue, so the
 * consumer knows exactly how much audio was lost before any sample it reads: detection times stay on the
 * capture clock. */
#ifndef KWS_RING_BUFFER_H_
#define KWS_RING_BUFFER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_RING_MARKS 32

typedef struct {
  uint32_t position;        /* samples written (head) when the drop happened */
  uint32_t dropped_before;  /* the dropped total before it */
} kws_ring_mark_t;

typedef struct {
  int16_t *samples;       /* capacity entries */
  uint32_t capacity;      /* power of two */
  uint32_t head;          /* written by the producer only: samples ever written */
  uint32_t tail;          /* written by the consumer only: samples ever read */
  uint32_t overruns;      /* producer only: blocks dropped because the ring was full */
  uint32_t dropped;       /* producer only: samples dropped (wraps; the consumer extends it to 64 bits) */
  kws_ring_mark_t marks[KWS_RING_MARKS];
  uint32_t marks_head;    /* producer only */
  uint32_t marks_tail;    /* consumer only */
  uint32_t last_mark_position; /* producer only: position of the newest mark (when marks_head > 0) */
} kws_ring_t;

/* 0 on success, -1 if capacity is not a power of two >= 2. */
int kws_ring_init(kws_ring_t *ring, int16_t *storage, uint32_t capacity);

/* Producer: copy all n samples in, or none (then overruns += 1, dropped += n). Returns 1 if written. */
int kws_ring_write(kws_ring_t *ring, const int16_t *samples, size_t n);

/* Producer: room for samples now. */
uint32_t kws_ring_free(const kws_ring_t *ring);

/* Consumer: samples available to read now. */
uint32_t kws_ring_available(const kws_ring_t *ring);

/* Consumer: read exactly n samples if that many are available (returns 1), else nothing (returns 0). */
int kws_ring_read(kws_ring_t *ring, int16_t *out, size_t n);

/* Consumer: samples dropped before the sample at write position `position` (one already read; ask in
 * non-decreasing order, and now and then for the last sample read, which frees the marks). Exact while
 * fewer than KWS_RING_MARKS drop positions are pending: a drop whose mark found the queue full is counted
 * at the next marked position instead. */
uint32_t kws_ring_dropped_before(kws_ring_t *ring, uint32_t position);

/* Either side: the producer's counters, read atomically (each is one aligned 32-bit word). */
uint32_t kws_ring_overruns(const kws_ring_t *ring);
uint32_t kws_ring_dropped(const kws_ring_t *ring);

#ifdef __cplusplus
}
#endif

#endif /* KWS_RING_BUFFER_H_ */
