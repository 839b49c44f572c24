// NOT the PDM library: the declarations of the mbed core's PDMClass that the sketch uses (see Arduino.h here).
#ifndef KWS_API_CHECK_PDM_H_
#define KWS_API_CHECK_PDM_H_

#include "Arduino.h"

class PDMClass {
 public:
  int begin(int channels, int sampleRate);
  void end();
  virtual int available();
  virtual int read(void *buffer, size_t size);
  void onReceive(void (*)(void));
  void setGain(int gain);
  void setBufferSize(int bufferSize);
};
extern PDMClass PDM;

#endif
