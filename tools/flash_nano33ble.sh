#!/usr/bin/env bash
# Compile and upload a rendered wake-word sketch to an Arduino Nano 33 BLE (Sense) with arduino-cli.
#   tools/flash_nano33ble.sh SKETCH_DIR PORT
# arduino-cli and the board core are not packaged for Debian, PyPI or npm: when they are missing this
# prints how to install them and exits 2 (nothing is downloaded here).
set -euo pipefail
sketch="${1:?usage: flash_nano33ble.sh SKETCH_DIR PORT}"
port="${2:-}"
fqbn="arduino:mbed_nano:nano33ble"

if ! command -v arduino-cli >/dev/null 2>&1; then
  cat >&2 <<MSG
arduino-cli is not installed, so the sketch cannot be compiled and uploaded here.
The sketch is ready in ${sketch}/ (any Arduino IDE can open it, too). To flash from this machine:
  1. install arduino-cli (a single binary from the Arduino CLI project's releases; its documentation's
     "Installation" page has an install.sh), and put it on PATH;
  2. arduino-cli core update-index
     arduino-cli core install arduino:mbed_nano
  3. on Linux, allow the board's USB port once:
     sudo ~/.arduino15/packages/arduino/hardware/mbed_nano/*/post_install.sh
  4. make flash MODEL=... PORT=/dev/ttyACM0        (arduino-cli board list shows the port)
MSG
  exit 2
fi
if ! arduino-cli core list 2>/dev/null | grep -q '^arduino:mbed_nano '; then
  cat >&2 <<MSG
arduino-cli has no arduino:mbed_nano core. Install it with:
  arduino-cli core update-index
  arduino-cli core install arduino:mbed_nano
MSG
  exit 2
fi
if [ -z "$port" ]; then
  echo "PORT is not set: say which serial port the board is on, e.g. make flash MODEL=... PORT=/dev/ttyACM0" >&2
  arduino-cli board list >&2 || true
  exit 2
fi
arduino-cli compile --fqbn "$fqbn" --upload --port "$port" "$sketch"
echo "flashed ${sketch} to ${port}; watch it with: python -m kws monitor --port ${port}"
