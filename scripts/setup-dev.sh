#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine with Python 3.11+: the X servers
# and tools the screen/pointer/capture tests drive (xwd takes the overlay tests' own screenshots),
# the MCP Inspector CLI (with the Node it needs) for the skills extension test, Chromium for the
# console's browser tests, redis-server and caddy for the scale-out tests (several replicas on one
# Redis, behind the shipped docker/Caddyfile.scale), and a .venv with the package and dev tools.
# Idempotent: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v Xvnc >/dev/null 2>&1 || need+=(tigervnc-standalone-server)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
command -v xrandr >/dev/null 2>&1 || need+=(x11-xserver-utils)
command -v xwd >/dev/null 2>&1 || need+=(x11-apps)
command -v npm >/dev/null 2>&1 || need+=(npm)
# The scale-out tests start a real redis-server on a loopback port (never the system service).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# They run the compose balancer's own Caddyfile with a real caddy on a loopback port (admin endpoint
# off, so the system service Debian's package starts, if any, is never in the way).
command -v caddy >/dev/null 2>&1 || need+=(caddy)
# The console's browser tests drive Debian's Chromium in its headless shell (Chromium's own headless
# build, as Playwright runs headless by default: a third of the full browser's CPU); Playwright never
# downloads a browser here.
[ -x /usr/bin/chromium-headless-shell ] || need+=(chromium-headless-shell)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup-dev: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ -f uv.lock ]; then
  # Exactly the versions CI tested (uv.lock), uv itself pinned there too. `--locked` stops when
  # pyproject.toml changed without `uv lock`; `--inexact` keeps pip, so plain pip still works in .venv.
  uv_version=$(python3 -c 'import tomllib; print(next(p["version"] for p in tomllib.load(open("uv.lock", "rb"))["package"] if p["name"] == "uv"))')
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$uv_version"
  # Bytecode compiled at install, as pip does (uv does not by default): otherwise the first import of
  # mcp and openai in every fresh process compiles them, seconds on the suite's critical path.
  UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync -q --locked --extra dev --inexact --compile-bytecode
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
fi

# The MCP Inspector 2.x CLI needs Node >= 22.19; Debian ships 18 and this machine may have 20. npm's
# `node-linux-<arch>` package is the official Node binary itself (the `node` wrapper package fetches it
# in a postinstall step that fails now and then), so both are installed side by side, pinned, under
# .tools/inspector (tests put its node_modules/.bin first on PATH). Reinstalled only when a pin changes.
INSPECTOR_VERSION=2.12.0
NODE_VERSION=22.23.3
case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64 | arm64) node_arch=arm64 ;;
  *) node_arch="$(uname -m)" ;;
esac
tools=.tools/inspector
want="inspector=$INSPECTOR_VERSION node=$NODE_VERSION-$node_arch"
if [ "$(cat "$tools/.installed" 2>/dev/null)" != "$want" ]; then
  echo "setup-dev: installing the MCP Inspector $INSPECTOR_VERSION and Node $NODE_VERSION under $tools"
  rm -rf "$tools"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
    "node-linux-$node_arch@$NODE_VERSION" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION"
  PATH="$PWD/$tools/node_modules/.bin:$PATH" node --version | grep -qx "v$NODE_VERSION"
  echo "$want" >"$tools/.installed"
fi

# The repository's bytecode, and pytest's assertion-rewritten test modules, written once here as a
# first run would: on a fresh clone each pytest-xdist worker would otherwise compile every test module
# at the same moment (~1 CPU-s each). Up-to-date files are skipped, so a rerun costs a second or two.
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m compileall -q servers wire capture_client tests bench
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m pytest --collect-only -q -p no:cacheprovider >/dev/null
