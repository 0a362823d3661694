#!/bin/sh
# `make test-openresty`: unit tests of wskit.proto under LuaJIT, Lua 5.4
# and Lua 5.4 with ASan+UBSan,
# then the pytest suite (a real nginx + python3-websockets; the hub tests
# also start redis-server). Every part is
# bounded; the last line is "<label>: N passed, M failed".
label=$1
passed=0; failed=0

count() { # $1 = name, $2 = output, $3 = exit status
  line=$(printf '%s\n' "$2" | tail -n 1)
  p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
  if [ -z "$p" ]; then p=0; f=1; fi
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  [ "$f" -ne 0 ] && printf '%s\n' "$2"
  passed=$((passed + p)); failed=$((failed + f))
  printf '  %-32s %s passed, %s failed\n' "$1" "$p" "$f"
}

out=$(timeout 60 luajit tests/openresty/test_proto.lua build/lua 2>&1); count "wskit.proto (LuaJIT)" "$out" $?
out=$(timeout 60 lua5.4 tests/openresty/test_proto.lua build/lua54 2>&1); count "wskit.proto (Lua 5.4)" "$out" $?
# the sanitizers must be loaded before lua5.4 itself, hence LD_PRELOAD
asan="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LD_PRELOAD="$asan" timeout 120 lua5.4 tests/openresty/test_proto.lua build/lua54-asan 2>&1)
count "wskit.proto (Lua 5.4, ASan)" "$out" $?
# the channel parts (hub, protocol, backplane formats, SSE, rate, auth)
out=$(timeout 60 luajit tests/openresty/test_proto_hub.lua build/lua 2>&1); count "wskit.proto hub (LuaJIT)" "$out" $?
out=$(timeout 60 lua5.4 tests/openresty/test_proto_hub.lua build/lua54 2>&1); count "wskit.proto hub (Lua 5.4)" "$out" $?
out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LD_PRELOAD="$asan" timeout 120 lua5.4 tests/openresty/test_proto_hub.lua build/lua54-asan 2>&1)
count "wskit.proto hub (Lua 5.4, ASan)" "$out" $?

log=build/pytest-$label.log
timeout 600 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/openresty/ > "$log" 2>&1
prc=$?
tail -n 30 "$log"
sum=$(tail -n 1 "$log")
# pytest's summary: "[N failed, ]M passed[, K errors] in S s"
num() { printf '%s' "$sum" | sed -n "s/^\(.*[ ,]\)*\([0-9][0-9]*\) $1.*/\2/p"; }
p=$(num passed); f=$(num failed); e=$(num error)
p=${p:-0}; f=${f:-0}; e=${e:-0}
# a failure to run at all (import error, timeout) counts as one
if [ $prc -ne 0 ] && [ $((f + e)) -eq 0 ]; then f=1; fi
passed=$((passed + p)); failed=$((failed + f + e))
echo "  pytest tests/openresty: $p passed, $((f + e)) failed"
echo "$label: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
