#!/usr/bin/env bash
# Make sure NIST sclite (Debian package sctk) is installed: the WER tests compare against it.
# Idempotent; needs root (or sudo) to install. Prints what to do when it cannot.
set -euo pipefail
if command -v sclite >/dev/null 2>&1 || [ -x /usr/lib/sctk/bin/sclite ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "sclite is missing and this user cannot install it: run 'apt-get install -y sctk' as root" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq sctk >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq sctk; }
