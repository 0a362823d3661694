#!/bin/sh
# `make test-uv` / `make asan-uv`: the driver's C test binaries, then the
# pytest suite against real peers (python3-websockets, node ws) using the
# example binaries in EXAMPLES_DIR. One summary line at the end.
label=$1; examples=$2; shift 2
out=$(sh tests/c/run.sh "$label-c" "$@"); rc=$?
printf '%s\n' "$out"
line=$(printf '%s\n' "$out" | tail -n 1)
passed=$(printf '%s' "$line" | awk '{print $2}' | tr -d ,)
failed=$(printf '%s' "$line" | awk '{print $4}')
[ -n "$passed" ] || { passed=0; failed=1; }
if [ -z "$WSK_UV_SKIP_PYTEST" ]; then
  log=build/pytest-$label.log
  WSK_EXAMPLES="$examples" timeout 600 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
    tests/uv/ > "$log" 2>&1
  prc=$?
  tail -n 30 "$log"
  sum=$(tail -n 1 "$log")
  count() { printf '%s' "$sum" | grep -o "[0-9][0-9]* $1" | awk '{print $1}'; }
  p=$(count passed); f=$(count failed); e=$(count error)
  p=${p:-0}; f=${f:-0}; e=${e:-0}
  # any other failure to run (import error, timeout) counts as one
  if [ $prc -ne 0 ] && [ $((f + e)) -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f + e))
  echo "  pytest tests/uv: $p passed, $((f + e)) failed"
fi
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
