#!/usr/bin/env bash
# Checks that the interpreter make will use is Python 3.11 or 3.12 with venv; on Debian as root, installs
# what is missing. Prints what to do when it cannot.
set -euo pipefail
py="${1:-}"
need_apt() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: $1 is missing; install it as root: apt-get install -y $2" >&2; exit 1
    fi
    command -v apt-get >/dev/null || { echo "error: $1 is missing and this is not a Debian system" >&2; exit 1; }
    echo "installing Debian package(s): $2"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $2 >/dev/null
}
if [ -z "$py" ] || ! command -v "$py" >/dev/null; then
    need_apt "python3" "python3 python3-venv"
    py=python3
fi
"$py" - <<'PY' || { echo "error: Python 3.11 or 3.12 is required (got $("$py" --version 2>&1)); pass PYTHON=/path/to/python3.11" >&2; exit 1; }
import sys
sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)
PY
"$py" -c "import venv, ensurepip" 2>/dev/null || need_apt "python venv" "python3-venv"
