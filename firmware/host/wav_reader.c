#include "wav_reader.h"

#include <errno.h>
#include <string.h>

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int fail(kws_wav_t *wav, char *error, size_t size, const char *path, const char *reason) {
  snprintf(error, size, "%s: %s", path, reason);
  if (wav->file) fclose(wav->file);
  wav->file = NULL;
  return -1;
}

int kws_wav_open(kws_wav_t *wav, const char *path, char *error, size_t error_size) {
  unsigned char header[12], chunk[8], fmt[40];
  int have_fmt = 0;
  memset(wav, 0, sizeof(*wav));
  wav->file = fopen(path, "rb");
  if (!wav->file) return fail(wav, error, error_size, path, strerror(errno));
  if (fread(header, 1, 12, wav->file) != 12 || memcmp(header, "RIFF", 4) || memcmp(header + 8, "WAVE", 4))
    return fail(wav, error, error_size, path, "not a RIFF/WAVE file");
  for (;;) {
    if (fread(chunk, 1, 8, wav->file) != 8) return fail(wav, error, error_size, path, "no data chunk");
    uint32_t size = le32(chunk + 4);
    if (!memcmp(chunk, "fmt ", 4)) {
      if (size < 16 || size > sizeof(fmt) || fread(fmt, 1, size, wav->file) != size)
        return fail(wav, error, error_size, path, "bad fmt chunk");
      uint16_t format = le16(fmt), channels = le16(fmt + 2), bits = le16(fmt + 14);
      if (format == 0xFFFE && size >= 26) format = le16(fmt + 24); /* WAVE_FORMAT_EXTENSIBLE: sub-format */
      if (format != 1 || bits != 16) return fail(wav, error, error_size, path, "not 16-bit PCM");
      if (channels != 1) return fail(wav, error, error_size, path, "not mono");
      wav->sample_rate_hz = le32(fmt + 4);
      have_fmt = 1;
      if (size & 1) fgetc(wav->file);
    } else if (!memcmp(chunk, "data", 4)) {
      if (!have_fmt) return fail(wav, error, error_size, path, "data chunk before fmt chunk");
      wav->samples_left = size / 2u;
      return 0;
    } else if (fseek(wav->file, (long)size + (long)(size & 1), SEEK_CUR) != 0) {
      return fail(wav, error, error_size, path, "truncated chunk");
    }
  }
}

size_t kws_wav_read(kws_wav_t *wav, int16_t *out, size_t n) {
  unsigned char bytes[2 * 1024];
  size_t done = 0;
  while (done < n && wav->samples_left > 0) {
    size_t want = n - done;
    if (want > sizeof(bytes) / 2) want = sizeof(bytes) / 2;
    if (want > wav->samples_left) want = (size_t)wav->samples_left;
    size_t got = fread(bytes, 2, want, wav->file);
    for (size_t i = 0; i < got; ++i) out[done + i] = (int16_t)le16(bytes + 2 * i);
    done += got;
    wav->samples_left -= got;
    if (got < want) {
      /* a truncated data chunk (a recording cut short) ends the stream where the bytes end */
      wav->samples_left = 0;
      if (ferror(wav->file)) snprintf(wav->error, sizeof(wav->error), "read error: %s", strerror(errno));
    }
  }
  return done;
}

void kws_wav_close(kws_wav_t *wav) {
  if (wav->file) fclose(wav->file);
  wav->file = NULL;
}
