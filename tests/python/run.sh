#!/bin/sh
# `make test-py`: install wskit (editable) into .venv, made from Debian's
# python3 so pytest, websockets, aiohttp and uvloop come from the system;
# run the suite; end with "py: N passed, M failed" for tests/run_all.sh.
# Skipped tests are reported on their own line and never count as passed.
cd "$(dirname "$0")/../.." || exit 1
PY=/usr/bin/python3
VENV=.venv
summary() { echo "py: $1 passed, $2 failed"; }

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV" || { summary 0 1; exit 1; }
fi
if ! "$VENV/bin/pip" install -q --no-build-isolation --no-deps --no-index -e . ; then
  echo "pip install failed"; summary 0 1; exit 1
fi

mkdir -p build
log=build/pytest-py.log
{ "$VENV/bin/python" -m pytest -q -rfEs tests/python "$@"; echo $? > "$log.rc"; } 2>&1 | tee "$log"
rc=$(cat "$log.rc")

# pytest's last line: "12 passed, 1 failed, 2 skipped, 1 error in 3.2s"
last=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped)' "$log" | tail -n 1)
count() { printf '%s\n' "$last" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' | head -n 1; }
passed=$(count passed); passed=${passed:-0}
failed=$(count failed); failed=${failed:-0}
errors=$(count 'errors?'); errors=${errors:-0}
skipped=$(count skipped); skipped=${skipped:-0}
failed=$((failed + errors))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # crashed, or nothing collected
[ "$skipped" -gt 0 ] && echo "py: $skipped skipped (not counted as passed)"
summary "$passed" "$failed"
[ "$failed" -eq 0 ]
