/* recognize_dump: RecognizeCommands over results on stdin, decisions on stdout (a test tool).
 * stdin lines: "time_ms score_0 ... score_{n-1}"; stdout lines: "time_ms label_index score is_new". */
#include <stdio.h>

#include "recognize.h"

int main(void) {
  static kws_recognizer_t state;
  int32_t scores[KWS_CATEGORY_COUNT];
  long long time_ms;
  kws_recognizer_reset(&state);
  while (scanf("%lld", &time_ms) == 1) {
    kws_recognition_t result;
    int i;
    for (i = 0; i < KWS_CATEGORY_COUNT; ++i) {
      long value;
      if (scanf("%ld", &value) != 1) return 2;
      scores[i] = (int32_t)value;
    }
    if (kws_recognizer_process(&state, scores, (int64_t)time_ms, &result) != 0) {
      printf("%lld error\n", time_ms);
      continue;
    }
    printf("%lld %d %d %d\n", time_ms, (int)result.label_index, (int)result.score, (int)result.is_new);
  }
  return 0;
}
