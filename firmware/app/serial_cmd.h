/* Serial command line assembly and parsing (pure: no I/O, testable on the host).
 *
 * Bytes arrive one at a time; '\n' or '\r' ends a line (so "\r\n" from terminals is one line and an
 * empty line after it is ignored). Lines longer than KWS_CMD_MAX_LINE are cut off and reported as
 * too long once their end arrives; bytes outside printable ASCII make the line "garbage". Commands:
 *   threshold N   set the detection threshold (N decimal, 0..255)
 *   threshold     report it
 *   stats         duty cycle, overruns, max frame latency, uptime
 *   version       model hash, keywords, front-end parameters
 * Anything else is an error with a reason. */
#ifndef KWS_SERIAL_CMD_H_
#define KWS_SERIAL_CMD_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_CMD_MAX_LINE 48

typedef enum {
  KWS_CMD_NONE = 0,       /* nothing to do (empty line) */
  KWS_CMD_THRESHOLD_SET,  /* value holds the new threshold */
  KWS_CMD_THRESHOLD_GET,
  KWS_CMD_STATS,
  KWS_CMD_VERSION,
  KWS_CMD_ERROR           /* error holds the reason (a NUL-terminated, printable string) */
} kws_cmd_kind_t;

typedef struct {
  kws_cmd_kind_t kind;
  int value;
  char error[72];
} kws_cmd_t;

typedef struct {
  char line[KWS_CMD_MAX_LINE + 1];
  size_t length;
  int too_long;   /* bytes were lost: the line is reported as too long */
  int garbage;    /* a byte outside printable ASCII was seen */
} kws_cmd_reader_t;

void kws_cmd_reader_init(kws_cmd_reader_t *reader);

/* Feed one byte; returns 1 when it completed a line and *out holds the command (possibly NONE). */
int kws_cmd_feed(kws_cmd_reader_t *reader, uint8_t byte, kws_cmd_t *out);

/* Parse one complete line (NUL-terminated, without its end-of-line). */
void kws_cmd_parse(const char *line, kws_cmd_t *out);

#ifdef __cplusplus
}
#endif

#endif /* KWS_SERIAL_CMD_H_ */
