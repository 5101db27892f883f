# demo-lib.sh - what the demos share: headings, commands shown as they run, stopping a stack.
# Sourced by demo.sh and files-demo.sh.

# Bold only on a terminal, and not with NO_COLOR set (https://no-color.org).
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
	step() { printf '\n%s\n' "$*"; }
fi

# Show a command, run it, indent what it says.
show() { printf '  $ %s\n' "$*"; "$@" 2>&1 | sed 's/^/    /'; }

# Stop the stack in run folder $1 if its antd still runs, and wait for it.
stop_stack() {
	if [ -f "$1/antd.pid" ]; then
		kill "$(cat "$1/antd.pid")" 2>/dev/null || true
		for _ in $(seq 50); do [ -e "$1/app.sock" ] || break; sleep 0.1; done
	fi
}
