#!/usr/bin/env bash
# Make sure CMU Flite (the second synthesizer family, English voices) is installed. Idempotent.
# Needs root for apt-get; without it, say what to install and go on (flite-based figures are then skipped).
set -u
command -v flite >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing flite (Debian package) ..."
  (apt-get install -y -qq flite >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq flite >/dev/null 2>&1; }) \
    && exit 0
fi
echo "note: flite is not installed and could not be installed here (run: sudo apt-get install flite);" \
     "the flite synthesizer family will be skipped" >&2
exit 0
