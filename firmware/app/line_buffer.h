/* Building one serial line without printf (small, and identical on every platform: integers only). */
#ifndef KWS_LINE_BUFFER_H_
#define KWS_LINE_BUFFER_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_LINE_MAX 256

typedef struct {
  char text[KWS_LINE_MAX];
  size_t length;  /* never more than KWS_LINE_MAX - 2: room is kept for the final "\n" */
} kws_line_t;

void kws_line_start(kws_line_t *line);
void kws_line_str(kws_line_t *line, const char *text);
void kws_line_u64(kws_line_t *line, uint64_t value);
/* value / 10^decimals with exactly `decimals` digits after the point (value >= 0). */
void kws_line_fixed(kws_line_t *line, uint64_t value, unsigned decimals);
/* Terminates with "\n"; returns the length to write. */
size_t kws_line_end(kws_line_t *line);

#ifdef __cplusplus
}
#endif

#endif /* KWS_LINE_BUFFER_H_ */
