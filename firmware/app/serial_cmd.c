#include "serial_cmd.h"

#include <string.h>

static void set_error(kws_cmd_t *out, const char *a, const char *b) {
  /* "a" then a printable, shortened copy of "b" in quotes, always NUL-terminated. */
  size_t n = 0, cap = sizeof(out->error) - 1;
  out->kind = KWS_CMD_ERROR;
  out->value = 0;
  for (; *a && n < cap; ++a) out->error[n++] = *a;
  if (b) {
    size_t copied = 0;
    if (n < cap) out->error[n++] = '\'';
    for (; *b && n + 4 < cap && copied < 16; ++b, ++copied) out->error[n++] = *b;
    if (*b && n + 3 < cap) { out->error[n++] = '.'; out->error[n++] = '.'; out->error[n++] = '.'; }
    if (n < cap) out->error[n++] = '\'';
  }
  out->error[n] = '\0';
}

void kws_cmd_reader_init(kws_cmd_reader_t *reader) {
  memset(reader, 0, sizeof(*reader));
}

int kws_cmd_feed(kws_cmd_reader_t *reader, uint8_t byte, kws_cmd_t *out) {
  if (byte == '\n' || byte == '\r') {
    int too_long = reader->too_long, garbage = reader->garbage;
    reader->line[reader->length] = '\0';
    if (too_long) {
      set_error(out, "line too long (max 48 characters)", 0);
    } else if (garbage) {
      set_error(out, "unreadable bytes in command (printable ASCII only)", 0);
    } else {
      kws_cmd_parse(reader->line, out);
    }
    reader->length = 0;
    reader->too_long = reader->garbage = 0;
    return 1;
  }
  if (byte < 0x20 || byte > 0x7e) {
    if (byte != '\t') reader->garbage = 1;
    byte = ' ';
  }
  if (reader->length < KWS_CMD_MAX_LINE) {
    reader->line[reader->length++] = (char)byte;
  } else {
    reader->too_long = 1;
  }
  return 0;
}

static const char *skip_spaces(const char *s) {
  while (*s == ' ') ++s;
  return s;
}

/* Length of the word at s (up to a space or the end). */
static size_t word_length(const char *s) {
  size_t n = 0;
  while (s[n] && s[n] != ' ') ++n;
  return n;
}

static int word_is(const char *s, size_t n, const char *word) {
  return strlen(word) == n && strncmp(s, word, n) == 0;
}

void kws_cmd_parse(const char *line, kws_cmd_t *out) {
  const char *word = skip_spaces(line);
  size_t n = word_length(word);
  const char *rest = skip_spaces(word + n);
  out->kind = KWS_CMD_NONE;
  out->value = 0;
  out->error[0] = '\0';
  if (n == 0) return;
  if (word_is(word, n, "threshold")) {
    size_t digits = word_length(rest);
    int value = 0;
    if (digits == 0) { out->kind = KWS_CMD_THRESHOLD_GET; return; }
    if (*skip_spaces(rest + digits) != '\0') { set_error(out, "threshold takes one number 0..255, got ", rest); return; }
    for (size_t i = 0; i < digits; ++i) {
      if (rest[i] < '0' || rest[i] > '9' || digits > 3) {
        set_error(out, "threshold takes one number 0..255, got ", rest);
        return;
      }
      value = value * 10 + (rest[i] - '0');
    }
    if (value > 255) { set_error(out, "threshold takes one number 0..255, got ", rest); return; }
    out->kind = KWS_CMD_THRESHOLD_SET;
    out->value = value;
    return;
  }
  if (*rest != '\0' && (word_is(word, n, "stats") || word_is(word, n, "version"))) {
    set_error(out, "takes no arguments: ", word);
    return;
  }
  if (word_is(word, n, "stats")) { out->kind = KWS_CMD_STATS; return; }
  if (word_is(word, n, "version")) { out->kind = KWS_CMD_VERSION; return; }
  set_error(out, "unknown command (threshold N, stats, version): ", word);
}
