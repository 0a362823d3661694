#!/bin/sh
# `make test-scaleout`: several wskit instances behind a real nginx
# (ip_hash) sharing a real redis-server. Ends with
# "scaleout: N passed, M failed" for tests/run_all.sh.
cd "$(dirname "$0")/../.." || exit 1
VENV=.venv
mkdir -p build
log=build/pytest-scaleout.log
{ "$VENV/bin/python" -m pytest -q -rfEs -p no:cacheprovider tests/scaleout "$@"; echo $? > "$log.rc"; } 2>&1 | tee "$log"
rc=$(cat "$log.rc")
last=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped)' "$log" | tail -n 1)
count() { printf '%s\n' "$last" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' | head -n 1; }
passed=$(count passed); passed=${passed:-0}
failed=$(count failed); failed=${failed:-0}
errors=$(count 'errors?'); errors=${errors:-0}
skipped=$(count skipped); skipped=${skipped:-0}
failed=$((failed + errors))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
[ "$skipped" -gt 0 ] && echo "scaleout: $skipped skipped (not counted as passed)"
echo "scaleout: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
