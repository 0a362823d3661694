#!/bin/sh
# `make test`: every suite in turn, then one total line. A suite prints
# "<name>: N passed, M failed" as its summary; a suite that fails to run
# at all counts as one failure.
log=build/test-summary.log
mkdir -p build
: > "$log"
status=0
for target in "$@"; do
  echo "== make $target"
  if ! make --no-print-directory "$target" 2>&1 | tee build/test-"$target".log; then status=1; fi
  # make's pipe hides its status from `if`; read it from the summary instead
  line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' build/test-"$target".log | tail -n 1)
  [ -n "$line" ] || line="$target: 0 passed, 1 failed"
  echo "$line" >> "$log"
done
passed=$(awk '{p += $2} END {print p + 0}' "$log")
failed=$(awk '{f += $4} END {print f + 0}' "$log")
echo "== summary"
cat "$log"
[ "$failed" -eq 0 ] || status=1
echo "total: $passed passed, $failed failed"
exit $status
