#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine with Python 3.11+: the X servers
# and tools the screen/pointer/capture tests drive, Chromium for the console's browser tests, and
# a .venv with the package and dev tools.
# Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v Xvnc >/dev/null 2>&1 || need+=(tigervnc-standalone-server)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
command -v xrandr >/dev/null 2>&1 || need+=(x11-xserver-utils)
# The console's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
[ -x /usr/bin/chromium ] || need+=(chromium)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup-dev: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
