#include "line_buffer.h"

void kws_line_start(kws_line_t *line) { line->length = 0; }

void kws_line_str(kws_line_t *line, const char *text) {
  while (*text && line->length < KWS_LINE_MAX - 2) line->text[line->length++] = *text++;
}

void kws_line_u64(kws_line_t *line, uint64_t value) {
  char digits[21];
  int n = 0;
  do {
    digits[n++] = (char)('0' + (int)(value % 10u));
    value /= 10u;
  } while (value != 0);
  while (n > 0 && line->length < KWS_LINE_MAX - 2) line->text[line->length++] = digits[--n];
}

void kws_line_fixed(kws_line_t *line, uint64_t value, unsigned decimals) {
  uint64_t scale = 1;
  for (unsigned i = 0; i < decimals; ++i) scale *= 10u;
  kws_line_u64(line, value / scale);
  if (decimals == 0) return;
  kws_line_str(line, ".");
  uint64_t fraction = value % scale;
  for (uint64_t digit = scale / 10u; digit > 0; digit /= 10u) {
    char c[2] = {(char)('0' + (int)(fraction / digit)), 0};
    kws_line_str(line, c);
    fraction %= digit;
  }
}

size_t kws_line_end(kws_line_t *line) {
  line->text[line->length++] = '\n';
  line->text[line->length] = '\0';
  return line->length;
}
