#!/bin/sh
# `make test-backplane`: the Redis scripts against a real redis-server
# (tests/backplane/test_scripts.py); ends with "backplane: N passed, M
# failed" for tests/run_all.sh. Skipped tests never count as passed.
cd "$(dirname "$0")/../.." || exit 1
summary() { echo "backplane: $1 passed, $2 failed"; }
mkdir -p build
log=build/pytest-backplane.log
{ /usr/bin/python3 -m pytest -q -rfEs -p no:cacheprovider tests/backplane "$@"; echo $? > "$log.rc"; } 2>&1 | tee "$log"
rc=$(cat "$log.rc")
last=$(grep -E '[0-9]+ (passed|failed|error|errors|skipped)' "$log" | tail -n 1)
count() { printf '%s\n' "$last" | grep -oE "[0-9]+ $1" | grep -oE '[0-9]+' | head -n 1; }
passed=$(count passed); passed=${passed:-0}
failed=$(count failed); failed=${failed:-0}
errors=$(count 'errors?'); errors=${errors:-0}
skipped=$(count skipped); skipped=${skipped:-0}
failed=$((failed + errors))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
[ "$skipped" -gt 0 ] && echo "backplane: $skipped skipped (not counted as passed)"
summary "$passed" "$failed"
[ "$failed" -eq 0 ]
