#!/bin/sh
# Run C test binaries; print each file's result and one total line.
label=$1; shift
passed=0; failed=0; bad=0
for t in "$@"; do
  out=$("$t" 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | tail -n 1)
  p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
  if [ -z "$p" ]; then p=0; f=1; fi
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer abort
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -ne 0 ]; then bad=1; printf '%s\n' "$out"; fi
  printf '  %-32s %s passed, %s failed\n' "$(basename "$t")" "$p" "$f"
done
echo "$label: $passed passed, $failed failed"
exit $bad
