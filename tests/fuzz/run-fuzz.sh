#!/usr/bin/env bash
# run-fuzz.sh FUZZER SECONDS CORPUS - run a libFuzzer target for a bounded time on a
# scratch copy of the corpus (the checked-in corpus is only read); fail on any crash.
set -euo pipefail
fuzzer=$(realpath "$1") seconds=$2 corpus=$(realpath "$3")
work=$(mktemp -d /tmp/ant-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
cd "$work"
"$fuzzer" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
	"$work/new" "$corpus" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
echo "fuzz run: $(ls "$work/new" | wc -l) new inputs kept, exit $status"
[ "$status" -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit "$status"
