#!/bin/sh
# `make test-lua`: the busted specs in tests/lua on Lua 5.1, LuaJIT 2.1 and
# Lua 5.4, each run bounded. The last line is "lua: N passed, M failed",
# summed over the interpreters; pending and skipped tests count as neither.
#
# `sh tests/lua/run.sh asan` (make asan-lua): Lua 5.4 with the ASan+UBSan
# build of wskit.core, the specs that stay in one process; last line
# "asan-lua: N passed, M failed". libuv is preloaded with the sanitizers:
# once the module (and libuv with it) is unloaded at exit, the default
# loop's own allocations would otherwise be reported as leaks.
cd "$(dirname "$0")/../.." || exit 1
passed=0; failed=0; preload=
# scratch files of the specs (peer output, certificates): removed at the end
WSKIT_TEST_TMP=$(mktemp -d)
export WSKIT_TEST_TMP
trap 'rm -rf "$WSKIT_TEST_TMP"' EXIT

run() { # $1 = label, $2 = interpreter, $3 = LUA_CPATH dir, rest = busted args
  label=$1 lua=$2 cdir=$3; shift 3
  log=build/test-lua-$label.log
  env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
    WSKIT_LUA=$lua LUA_PATH="lua/?.lua;lua/?/init.lua;tests/lua/?.lua;;" \
    LUA_CPATH="$cdir/?.so;;" LD_PRELOAD="$preload" \
    timeout 600 $lua /usr/bin/busted -o plainTerminal "$@" tests/lua > "$log" 2>&1
  rc=$?
  # busted's summary: "N successes / M failures / K errors / J pending : T seconds"
  sum=$(grep -E '^[0-9]+ successes? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
  p=$(printf '%s' "$sum" | sed -n 's/^\([0-9]*\) success.*/\1/p')
  f=$(printf '%s' "$sum" | sed -n 's/^[0-9]* success[es]* \/ \([0-9]*\) failure.*/\1/p')
  e=$(printf '%s' "$sum" | sed -n 's/.* \/ \([0-9]*\) errors* \/.*/\1/p')
  if [ -z "$p" ]; then p=0; f=1; e=0; fi   # busted did not finish: one failure
  if [ $rc -ne 0 ] && [ $((f + e)) -eq 0 ]; then f=1; fi
  [ $((f + e)) -ne 0 ] && tail -n 60 "$log"
  echo "  $label: $p passed, $((f + e)) failed${sum:+ ($sum)}"
  passed=$((passed + p)); failed=$((failed + f + e))
}

if [ "$1" = asan ]; then
  cc=${CC:-cc}
  uv=$(ldconfig -p | sed -n 's/.* => \(.*libuv\.so\.1\)$/\1/p' | head -n 1)
  preload="$($cc -print-file-name=libasan.so) $($cc -print-file-name=libubsan.so) $uv"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
  run lua5.4-asan lua5.4 build/lua5.4-asan \
      --exclude-pattern=rockspec_spec --exclude-pattern=examples_spec --exclude-pattern=luv_spec
  echo "asan-lua: $passed passed, $failed failed"
else
  run lua5.1 lua5.1 build/lua5.1
  run luajit luajit build/lua5.1
  run lua5.4 lua5.4 build/lua5.4
  echo "lua: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
