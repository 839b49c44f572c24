// NOT the Arduino core: declarations of the part of the arduino:mbed_nano core's API that the sketch uses
// (Arduino.h, Serial over USB, pins of the Nano 33 BLE's RGB LED), so tests can type-check the rendered
// sketch with arm-none-eabi-g++ -fsyntax-only where the real core cannot be installed. Signatures follow
// the core's headers; nothing here is linked or run.
#ifndef KWS_API_CHECK_ARDUINO_H_
#define KWS_API_CHECK_ARDUINO_H_

#include <stddef.h>
#include <stdint.h>

#define HIGH 0x1
#define LOW 0x0
#define OUTPUT 0x1
typedef int pin_size_t;
typedef int PinStatus;
typedef int PinMode;
// The Nano 33 BLE's RGB LED (active low)
#define LEDR (22u)
#define LEDG (23u)
#define LEDB (24u)

void pinMode(pin_size_t pin, PinMode mode);
void digitalWrite(pin_size_t pin, PinStatus value);
unsigned long millis(void);
unsigned long micros(void);
void delay(unsigned long ms);

class KwsApiCheckSerial {
 public:
  void begin(unsigned long baud);
  size_t write(const uint8_t *buffer, size_t size);
  size_t println(const char *text);
  int available(void);
  int read(void);
  operator bool();
};
extern KwsApiCheckSerial Serial;

#endif
