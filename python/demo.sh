#!/bin/sh
# `make demo`: install what the Python package needs, build it into .venv
# (the same way `make test-py` does), then run the chat server (rooms on
# the channel protocol with resume, SSE, and a bot; no Redis needed) and
# print the page to open. HOST and PORT choose the address (127.0.0.1:8765);
# ARGS adds `wskit serve` options (e.g. --redis URL --no-bot for a second
# instance sharing the rooms).
set -e
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8765}
VENV=.venv
say() { echo "demo: $*"; }

# Debian packages: a C compiler, Python's headers and venv, zlib, OpenSSL,
# and redis-py for `--redis` (scale-out; the default needs no Redis).
# Only the missing ones, and only with the rights to install them.
if command -v dpkg-query >/dev/null 2>&1; then
  need=
  for pkg in gcc make python3 python3-dev python3-venv python3-pip python3-setuptools \
             python3-wheel zlib1g-dev libssl-dev python3-redis; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=
    elif command -v sudo >/dev/null 2>&1; then SUDO=sudo
    else say "please install (as root):$need"; exit 1
    fi
    say "installing$need"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
  fi
else
  say "not Debian: needs a C compiler, Python 3.9+ with its headers and venv, zlib and OpenSSL headers"
fi

# Debian's python3, so the venv also sees Debian's uvloop when installed
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ ! -x "$VENV/bin/python" ]; then
  say "making $VENV"
  "$PY" -m venv --system-site-packages "$VENV"
fi
say "building wskit into $VENV (the first time compiles the C core)"
"$VENV/bin/pip" install -q --no-build-isolation --no-deps --no-index -e .

say "starting the chat server: open the page below in two browser tabs and chat"
say "(the wskit command is $VENV/bin/wskit; the bot answers /bot help)"
# ARGS is split into words on purpose: it holds several options
# shellcheck disable=SC2086
exec "$VENV/bin/python" -m wskit serve --chat --host "$HOST" --port "$PORT" ${ARGS:-}
