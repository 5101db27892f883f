#!/usr/bin/env bash
# demo.sh - start the chain3 example stack and show calls in both return modes, in plain words.
set -euo pipefail

build=${1:?usage: demo.sh BUILD_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=$(mktemp -d /tmp/ant-demo-XXXXXX)
antd="$build/supervisor/antd"
call="$build/tools/ant-call"
antctl="$build/tools/antctl"
export ANT_RUN_DIR=$run

# shellcheck source=demo-lib.sh
. "$here/demo-lib.sh"
cleanup() {
	stop_stack "$run"
	rm -rf "$run"
}
trap cleanup EXIT

step "1. antd starts the stack of examples/chain3.json: app -> relay1 -> relay2 -> relay3"
echo "   Each server is its own process with one socket to antd; antd owns every ICA"
echo "   and keeps each server's request and result queues."
show "$antd" --run-dir "$run" --server-path "$build/servers" "$here/chain3.json"
grep -E 'start|ready' "$run/antd.log" | sed 's/^/    /'

step "2. A synchronous call with sequential return"
echo "   relay1 and relay2 push a frame on the same control ICA and ask for the result"
echo "   back, so the reply climbs down the chain through every server:"
show "$call" relay1 echo hello through three servers

step "3. The same call with direct return"
echo "   Now the relays push frames marked 'no return needed': relay3's reply goes"
echo "   straight to the application and skips relay2 and relay1:"
show "$call" --return direct relay1 echo hello through three servers

step "4. Eight asynchronous calls: tickets first, then the results as they come"
show "$call" --async 8 --return direct relay1 echo async

step "5. A data ICA travels with the call: the file's pages are handed over, never copied"
head -c 1048576 /dev/urandom >"$run/blob"
show "$call" --data-file "$run/blob" relay1 echo "1 MiB along"

step "6. A call to a server that does not exist, and to an op nobody serves"
show "$call" nosuchserver echo hi || true
show "$call" relay1 frobnicate || true

step "7. relay2 is killed in the middle of a call, and the call still succeeds"
echo "   antctl inject makes relay2 hold the next request it takes without answering"
echo "   (a hang).  While relay2 holds it, we kill relay2 with SIGKILL.  antd keeps"
echo "   its own copy of the control ICA relay2 held: it restarts relay2 and hands"
echo "   the copy to the new relay2, which answers (REPLAYS).  relay1 never notices."
show "$antctl" inject relay2 hang
"$call" relay1 echo "hold on, relay2" >"$run/slow-call.out" 2>&1 &
caller=$!
for _ in $(seq 100); do
	"$antctl" status --json | grep -q '"holding": *\["' && break
	sleep 0.05
done
show "$antctl" status
victim=$("$antctl" status --json | python3 -c 'import json,sys; print([s["pid"] for s in json.load(sys.stdin)["servers"] if s["name"]=="relay2"][0])')
printf '  $ kill -KILL %s    # relay2, holding the call\n' "$victim"
kill -KILL "$victim"
wait "$caller" && echo "    the call answered (relay2 appears twice: killed, then replayed):" ||
	echo "    the call FAILED:"
sed 's/^/      /' "$run/slow-call.out"
echo "   What antd did (antctl log):"
"$antctl" log -n 40 | grep -E 'kill|server-exit|replay|start|ready' | grep -v 'stack-ready' | tail -n 6 | sed 's/^/    /'
show "$antctl" status

step "8. More faults, injected from the command line while the stack serves"
echo "   Each fires on the next (echo) request the server takes; antd logs the injection,"
echo "   what it saw happen, and the replay (antctl inject --vocabulary: every fault)."
show "$antctl" inject relay3 segv --op echo
show "$call" --quiet relay1 echo "through a crashing relay3"
show "$antctl" inject relay2 corrupt
show "$call" --quiet relay1 echo "through a relay2 that damages the control ICA"
show "$antctl" inject relay1 delay:300
start_ms=$(date +%s%3N)
"$call" --quiet relay1 echo "through a slow relay1" | sed 's/^/    /'
echo "    (answered after $(($(date +%s%3N) - start_ms)) ms)"
echo "   What antd logged (antctl log --since 10s):"
"$antctl" log --since 10s | grep -E 'inject|server-exit|replay|kill' | sed 's/^/    /'
show "$antctl" status

# during WHAT CMD...: show CMD while calls go through relay1 one after the
# other, then how many there were and how many failed.
during() {
	local what=$1
	shift
	rm -f "$run/done"
	(
		n=0 bad=0
		while [ ! -e "$run/done" ]; do
			"$call" --quiet relay1 echo "during $what" >/dev/null 2>&1 || bad=$((bad + 1))
			n=$((n + 1))
		done
		echo "$n calls during $what, $bad failed" >"$run/during.out"
	) &
	local caller=$!
	show "$@"
	touch "$run/done"
	wait "$caller"
	sed 's/^/    /' "$run/during.out"
}

step "9. relay2 is upgraded while calls go on"
echo "   antctl upgrade starts the new program beside the old one, lets the old one finish"
echo "   what it holds while new calls wait in antd, hands its state (here: how many"
echo "   requests it took) to the new one, and switches.  Calls go on meanwhile."
show "$call" --quiet relay2 state-count
during "the upgrade" "$antctl" upgrade relay2 --verify-state -- --version-name v2 relay3
show "$call" --quiet relay2 state-count
"$antctl" status relay2 | sed -n '1,2s/^/    /p'   # sed reads it all: no SIGPIPE for antctl

step "10. antd re-executes itself while calls go on: no server restarts"
echo "   antctl reexec: antd writes its whole state (servers, queues, calls in flight,"
echo "   connections) into a memfd and executes its binary again, keeping every fd."
"$antctl" status | sed -n '4,6p' | awk '{print "    before: " $1 " pid " $2}'
during "the re-exec" "$antctl" reexec
"$antctl" status | sed -n '4,6p' | awk '{print "    after:  " $1 " pid " $2}'

step "11. SIGTERM: antd stops its servers and removes its sockets"
kill "$(cat "$run/antd.pid")"
for _ in $(seq 50); do [ -e "$run/app.sock" ] || break; sleep 0.1; done
tail -n 4 "$run/antd.log" | sed 's/^/    /'
[ -e "$run/app.sock" ] && echo "    app.sock is still there!" || echo "    app.sock and control.sock are gone."
