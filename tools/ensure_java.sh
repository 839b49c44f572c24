#!/usr/bin/env bash
# Spark needs Java 17+. Installs Debian's headless JRE when none is found (root only).
set -euo pipefail
version() { java -version 2>&1 | sed -nE 's/.*version "([0-9]+).*/\1/p' | head -n1; }
if command -v java >/dev/null && [ "$(version)" -ge 17 ] 2>/dev/null; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: Spark needs Java 17 or newer; install it as root: apt-get install -y default-jre-headless" >&2
    exit 1
fi
echo "installing Debian's headless Java runtime for Spark (default-jre-headless)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null
java -version
