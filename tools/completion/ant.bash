# bash completion for ant's tools: antctl, ant-call, ant-bench, ant-fs, ant-fuse.
# Installed once per program name in bash-completion's completions folder
# (the same file), or: source tools/completion/ant.bash
#
# Options and commands come from each program's own --help (so they are
# never out of date); server names from the running stack (antctl status);
# fault names from antctl inject --vocabulary.  Only bash builtins and the
# programs themselves are used: bash-completion's helpers are not needed.

# The value of --run-dir on the command line being completed, if any.
_ant_run_dir()
{
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--run-dir) printf '%s' "${COMP_WORDS[i + 1]}"; return ;;
		--run-dir=*) printf '%s' "${COMP_WORDS[i]#--run-dir=}"; return ;;
		esac
	done
}

# The long options PROG [COMMAND] --help lists.
_ant_options()
{
	"$@" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# The servers of the running stack (the first column of antctl status).
_ant_servers()
{
	local dir
	dir=$(_ant_run_dir)
	antctl ${dir:+--run-dir "$dir"} status 2>/dev/null |
		awk '$1 == "SERVER" { t = 1; next } t && NF == 0 { exit } t { print $1 }'
}

# Fault names antctl inject knows (kill, segv, delay:, errno: ...).
_ant_faults()
{
	antctl inject --vocabulary 2>/dev/null |
		awk 'NR > 1 && NF { f = $1
			if (f ~ /\[:/) { sub(/\[:.*/, "", f); print f; print f ":" }
			else { sub(/:.*/, ":", f); print f } }'
}

# COMPREPLY from the words in $1 that start with the current word.
_ant_reply()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
	[[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *: ]] && compopt -o nospace 2>/dev/null
	return 0
}

# Files (or with -d, folders) for the current word.
_ant_files()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	mapfile -t COMPREPLY < <(compgen "${1:--f}" -- "$cur")
	compopt -o filenames 2>/dev/null
	return 0
}

# The words after the program and its options, up to the current one.
_ant_args()
{
	local i w args=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--run-dir | --data-file | --data-out | --return | --async | --timeout | --server | \
			--lines | --level | --since | --interval | --count | --exec | --probation | -n | -o)
			((i++)) ;;
		-*) ;;
		*) args+=("$w") ;;
		esac
	done
	((${#args[@]} == 0)) || printf '%s\n' "${args[@]}"
}

_antctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--run-dir) _ant_files -d; return ;;
	--exec) _ant_files; return ;;
	--level) _ant_reply "debug info warn error"; return ;;
	--server) _ant_reply "$(_ant_servers)"; return ;;
	esac
	local args
	mapfile -t args < <(_ant_args)
	local cmd=${args[0]}
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_ant_reply "$(_ant_options antctl)"
		else
			_ant_reply "$(antctl --help 2>/dev/null |
				awk '/^Commands:/ { t = 1; next } t && /^  [a-z]/ { print $1 } t && /^$/ { exit }')"
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		_ant_reply "$(_ant_options antctl "$cmd")"
		return
	fi
	case $cmd in
	status | restart | stop | start | output | rollback)
		((${#args[@]} == 1)) && _ant_reply "$(_ant_servers)" ;;
	upgrade)
		((${#args[@]} == 1)) && _ant_reply "$(_ant_servers)" ;;
	inject)
		if ((${#args[@]} == 1)); then
			_ant_reply "$(_ant_servers)"
		elif ((${#args[@]} == 2)); then
			_ant_reply "$(_ant_faults)"
		fi ;;
	help)
		((${#args[@]} == 1)) && _ant_reply "$(antctl --help 2>/dev/null |
			awk '/^Commands:/ { t = 1; next } t && /^  [a-z]/ { print $1 } t && /^$/ { exit }')" ;;
	esac
	return 0
}

_ant_call()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--run-dir) _ant_files -d; return ;;
	--data-file | --data-out) _ant_files; return ;;
	--return) _ant_reply "sequential direct"; return ;;
	--async | --timeout) return ;;
	esac
	if [[ $cur == -* ]]; then
		_ant_reply "$(_ant_options ant-call)"
		return
	fi
	local args
	mapfile -t args < <(_ant_args)
	((${#args[@]} == 0)) && _ant_reply "$(_ant_servers)"
	return 0
}

_ant_bench()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--antd | --plot | --json) _ant_files; return ;;
	--server-path) _ant_files -d; return ;;
	--return) _ant_reply "sequential direct both"; return ;;
	--sandbox) _ant_reply "none default"; return ;;
	esac
	local args
	mapfile -t args < <(_ant_args)
	if ((${#args[@]} == 0)) && [[ $cur != -* ]]; then
		_ant_reply "$(ant-bench --help 2>/dev/null | awk '/ant-bench [a-z]+ \[OPTIONS\]/ {
			for (i = 1; i < NF; i++) if ($i == "ant-bench") { print $(i + 1); break } }' |
			sort -u)"
		return
	fi
	[[ $cur == -* ]] && _ant_reply "$(_ant_options ant-bench ${args[0]})"
	return 0
}

_ant_fs()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--run-dir) _ant_files -d; return ;;
	--server) _ant_reply "$(_ant_servers)"; return ;;
	esac
	if [[ $cur == -* ]]; then
		_ant_reply "$(_ant_options ant-fs)"
		return
	fi
	local args
	mapfile -t args < <(_ant_args)
	if ((${#args[@]} == 0)); then
		_ant_reply "$(ant-fs --help 2>/dev/null |
			awk '/^Commands:/ { t = 1; next } t && /^  [a-z]/ { print $1 } t && /^$/ { exit }')"
	elif [[ ${args[0]} == put ]] && ((${#args[@]} == 2)); then
		_ant_files   # the local FILE to write
	fi
	return 0
}

_ant_fuse()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--run-dir) _ant_files -d; return ;;
	--server) _ant_reply "$(_ant_servers)"; return ;;
	-o) return ;;
	esac
	if [[ $cur == -* ]]; then
		_ant_reply "$(_ant_options ant-fuse)"
	else
		_ant_files -d   # the mount point
	fi
	return 0
}

complete -F _antctl antctl
complete -F _ant_call ant-call
complete -F _ant_bench ant-bench
complete -F _ant_fs ant-fs
complete -F _ant_fuse ant-fuse
