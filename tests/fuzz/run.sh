#!/bin/sh
# Run each libFuzzer target for N seconds, starting from its seed corpus
# (tests/fuzz/corpus/NAME) and growing a scratch corpus in build/.
secs=$1; shift
status=0; passed=0; failed=0
for f in "$@"; do
  name=$(basename "$f")
  work=build/fuzz-corpus/$name
  seeds=tests/fuzz/corpus/$name
  mkdir -p "$work" "$seeds"
  echo "fuzz: $name for ${secs}s"
  if ! "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix=build/fuzz-artifacts-"$name"- "$work" "$seeds" > build/fuzz-"$name".log 2>&1; then
    status=1; failed=$((failed + 1))
    tail -n 60 build/fuzz-"$name".log
    echo "fuzz: $name FAILED"
  else
    passed=$((passed + 1))
    grep -E 'stat::number_of_executed_units' build/fuzz-"$name".log | sed "s/^/  $name /"
  fi
done
echo "fuzz: $passed passed, $failed failed"
exit $status
