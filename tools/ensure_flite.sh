#!/usr/bin/env bash
# Make sure Debian flite is installed: bench/asr.py speaks its held-out test with flite voices.
# Idempotent; needs root (or sudo) to install. Prints what to do when it cannot.
set -euo pipefail
if command -v flite >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "flite is missing and this user cannot install it: run 'apt-get install -y flite' as root" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq flite >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq flite; }
