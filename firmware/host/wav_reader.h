/* A streaming reader of 16-bit PCM mono WAV files (the host HAL's microphone). */
#ifndef KWS_WAV_READER_H_
#define KWS_WAV_READER_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
  FILE *file;
  uint32_t sample_rate_hz;
  uint64_t samples_left;
  char error[256];  /* set when a read fails half-way */
} kws_wav_t;

/* 0 on success; otherwise -1 and `error` names the file and the reason. */
int kws_wav_open(kws_wav_t *wav, const char *path, char *error, size_t error_size);
/* Up to n samples; 0 at the end (or on error: then wav->error is set). */
size_t kws_wav_read(kws_wav_t *wav, int16_t *out, size_t n);
void kws_wav_close(kws_wav_t *wav);

#endif /* KWS_WAV_READER_H_ */
