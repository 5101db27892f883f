#!/usr/bin/env bash
# demo.sh - start the chain3 example stack and show calls in both return modes, in plain words.
set -euo pipefail

build=${1:?usage: demo.sh BUILD_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=$(mktemp -d /tmp/ant-demo-XXXXXX)
antd="$build/supervisor/antd"
call="$build/tools/ant-call"
export ANT_RUN_DIR=$run

cleanup() {
	if [ -f "$run/antd.pid" ]; then
		kill "$(cat "$run/antd.pid")" 2>/dev/null || true
		for _ in $(seq 50); do [ -e "$run/app.sock" ] || break; sleep 0.1; done
	fi
	rm -rf "$run"
}
trap cleanup EXIT

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }

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

step "7. What antd counted (control socket, status)"
python3 - "$run/control.sock" <<'PY' | sed 's/^/    /'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(b'{"cmd":"status"}')
st = json.loads(s.recv(1 << 16))
print(f"{'server':8} {'pid':>7} {'state':9} {'served':>7} {'in flight':>9}")
for v in st["servers"]:
    print(f"{v['name']:8} {v['pid']:>7} {v['state']:9} {v['served']:>7} {v['inflight']:>9}")
print(f"calls handled: {st['calls']['total']}, data ICAs created {st['icas']['created']}, recycled {st['icas']['recycled']}")
PY
echo "   relay1 and relay2 'served' only the sequential calls: with direct return they"
echo "   never saw a reply."

step "8. SIGTERM: antd stops its servers and removes its sockets"
kill "$(cat "$run/antd.pid")"
for _ in $(seq 50); do [ -e "$run/app.sock" ] || break; sleep 0.1; done
tail -n 4 "$run/antd.log" | sed 's/^/    /'
[ -e "$run/app.sock" ] && echo "    app.sock is still there!" || echo "    app.sock and control.sock are gone."
echo
echo "Demo done."
