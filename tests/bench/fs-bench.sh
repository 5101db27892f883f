#!/usr/bin/env bash
# fs-bench.sh - cold reads through the ant file stack (ant-fuse) against fuse2fs and the kernel's ext4, on one image.
#
# One run builds a sample tree and one ext4 image of it, then mounts that
# image three ways in turn: the kernel's ext4 on a read-only loop device (the
# floor), fuse2fs (one FUSE process on libext2fs) and ant (antd with disk <-
# cache <- fs, mounted by ant-fuse).  Every measurement gets a fresh mount and
# dropped caches, so each one is cold: for ant that also means a fresh stack,
# because the cache server's blocks live in memfds that drop_caches does not
# touch.  The runs go round the three mounts in turn, so a machine that gets
# slower or faster during the run weighs on all three alike.
#
# Needs root: loop devices, mount, /proc/sys/vm/drop_caches.
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and awk, whatever the locale

self=fs-bench
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The issue's targets, as ant's speed over fuse2fs's (1 = as fast).
TARGET_SEQ=1.0 # sequential read: at least as fast as fuse2fs (issue 15; 0.7 before)
TARGET_TAR=1.0 # tar: at most fuse2fs's time (issue 15; 0.5 before)

NFILES=500 # files in the sample tree, besides the big one
MOUNTS=(kernel fuse2fs ant)

usage() {
	cat <<USAGE
usage: tests/bench/fs-bench.sh [OPTIONS]     (or: ./ant bench fs [OPTIONS])
Compare cold reads through the ant file stack (ant-fuse -> fs -> cache -> disk)
with fuse2fs and with the kernel's ext4 on a loop device, all on one ext4 image
made here: a sequential read of one big file (dd bs=1M) and a tar of a tree of
$NFILES files of mixed sizes.  Each measurement gets a fresh mount and dropped
caches; the table shows the median of the runs and ant's speed over the other two.

  --build DIR    ant's build folder (default: $src/build, the one ./ant builds)
  --runs N       measurements of each kind per mount (default 3)
  --size-mb N    size of the big file in MiB (default 256)
  --json FILE    also write the numbers to FILE as JSON
  --keep         keep the temporary folder (tree, image, logs) and say where
  --help         this text

Needs root (loop devices, mount, drop_caches), /dev/fuse, fuse2fs and
mkfs.ext4.  The temporary folder is made under \$TMPDIR (default /tmp), which
should be on a disk, not tmpfs.  Exit status: 0 after a run whose reads all
matched the source, 1 on a failure or a mismatch, 2 on bad usage.
USAGE
}

say() { printf '%s: %s\n' "$self" "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# ---- options ----------------------------------------------------------------

build=$src/build
runs=3
size_mb=256
json=
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build needs a folder}; shift ;;
	--runs) runs=${2:?--runs needs a number}; shift ;;
	--size-mb) size_mb=${2:?--size-mb needs a number}; shift ;;
	--json) json=${2:?--json needs a file name}; shift ;;
	--keep) keep=1 ;;
	-h | --help) usage; exit 0 ;;
	*) say "unknown option '$1'"; usage >&2; exit 2 ;;
	esac
	shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { say "--runs: a whole number from 1 up, got '$runs'"; exit 2; }
[[ $size_mb =~ ^[1-9][0-9]*$ ]] || { say "--size-mb: a whole number from 1 up, got '$size_mb'"; exit 2; }
[ -d "$build" ] || die "no build folder '$build' (run ./ant build, or give --build DIR)"
build=$(cd "$build" && pwd)
if [ -n "$json" ]; then
	case $json in /*) ;; *) json=$PWD/$json ;; esac
fi

# ---- preconditions ----------------------------------------------------------

antd=$build/supervisor/antd
ant_fuse=$build/tools/ant-fuse
for f in "$antd" "$ant_fuse" "$build/servers/disk" "$build/servers/cache" "$build/servers/fs"; do
	[ -x "$f" ] || die "$f is missing: build ant first (./ant build, or ninja -C $build)"
done
[ "$(id -u)" -eq 0 ] || die "needs root (loop devices, mount, drop_caches): run it with sudo"
[ -c /dev/fuse ] || die "no /dev/fuse: load the fuse module (modprobe fuse)"
command -v fuse2fs >/dev/null || die "no fuse2fs: apt-get install fuse2fs"
PATH=$PATH:/usr/sbin:/sbin
command -v mkfs.ext4 >/dev/null || die "no mkfs.ext4: apt-get install e2fsprogs"
command -v losetup >/dev/null || die "no losetup: apt-get install mount"
[ -e /dev/loop-control ] || die "no loop devices (/dev/loop-control): modprobe loop"
losetup -f >/dev/null 2>&1 || die "no free loop device (losetup -f found none)"
grep -qw ext4 /proc/filesystems || modprobe ext4 2>/dev/null || die "the kernel has no ext4"
{ echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null ||
	die "cannot write /proc/sys/vm/drop_caches (a container without it?): cold reads cannot be measured"

# ---- clean-up: whatever was started is stopped, even on failure or Ctrl-C ---

tmp=          # the temporary folder
cur_mnt=      # the mountpoint mounted now (one at a time)
fuse_pid=     # the FUSE process of the current mount (fuse2fs or ant-fuse, -f)
loop_dev=     # the loop device of the kernel mount
antd_pid=     # antd of the current ant mount (--foreground, our child)

# wait_gone PID SECONDS: reap PID if it ends within SECONDS; 1 if it did not.
wait_gone() {
	local pid=$1 n=$(($2 * 20))
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.05
		n=$((n - 1))
	done
	kill -0 "$pid" 2>/dev/null && return 1
	wait "$pid" 2>/dev/null || true
}

stop_antd() {
	[ -n "$antd_pid" ] || return 0
	kill -TERM "$antd_pid" 2>/dev/null || true
	if ! wait_gone "$antd_pid" 15; then
		say "antd (pid $antd_pid) did not stop on SIGTERM within 15 s: killing it"
		kill -KILL "$antd_pid" 2>/dev/null || true
		wait_gone "$antd_pid" 5 || true
	fi
	antd_pid=
}

# unmount: undo the current mount, whichever it is.
unmount() {
	# findmnt reads the mount table: a dead FUSE mount, which stat fails on, is there too.
	if [ -n "$cur_mnt" ] && findmnt -rn --mountpoint "$cur_mnt" >/dev/null; then
		umount "$cur_mnt" 2>/dev/null || {
			sleep 0.5
			umount "$cur_mnt" 2>/dev/null
		} || {
			say "$cur_mnt is busy: detaching it lazily"
			umount -l "$cur_mnt" || true
		}
	fi
	cur_mnt=
	if [ -n "$fuse_pid" ]; then
		if ! wait_gone "$fuse_pid" 10; then
			say "FUSE process $fuse_pid still there 10 s after the unmount: killing it"
			kill -KILL "$fuse_pid" 2>/dev/null || true
			wait_gone "$fuse_pid" 5 || true
		fi
		fuse_pid=
	fi
	if [ -n "$loop_dev" ]; then
		losetup -d "$loop_dev" || say "cannot detach $loop_dev"
		loop_dev=
	fi
	stop_antd
}

cleanup() {
	local rc=$?
	set +e
	trap - INT TERM
	unmount
	if [ -n "$tmp" ] && [ -d "$tmp" ]; then
		if findmnt -rn -o TARGET | grep -q "^$tmp/"; then
			say "something is still mounted under $tmp: leaving it there"
		elif [ "$keep" -eq 1 ]; then
			say "kept $tmp"
		else
			rm -rf --one-file-system "$tmp"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

tmpbase=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$tmpbase/ant-fs-bench.XXXXXX")
[ "$(stat -f -c %T "$tmp")" = tmpfs ] &&
	say "warning: $tmpbase is tmpfs: drop_caches cannot drop the image, so every read comes from RAM (set TMPDIR to a folder on a disk)"
need_mb=$(((size_mb + 100) * 4 + 128)) # tree + image + ant's copy of it, with room
avail_mb=$(df -P -m "$tmp" | awk 'NR == 2 {print $4}')
[ "$avail_mb" -ge "$need_mb" ] || die "$tmpbase has $avail_mb MiB free, the run needs about $need_mb MiB (set TMPDIR elsewhere)"

# ---- the sample tree and the image -----------------------------------------

tree=$tmp/tree
img=$tmp/fs.img
ant_img=$tmp/ant.img # ant's own copy: its disk server opens the image read-write
mkdir -p "$tree/tree" "$tmp/mnt"

# make_tree: NFILES files under tree/tree, 8 x 5 folders with some deeper
# ones: 75% up to 32 KiB, 21% 32-512 KiB, 4% 1-4 MiB, about 80 MiB in all;
# a few symlinks, names with spaces and empty folders.  The sizes are the same
# on every run (a fixed seed); the bytes come from /dev/urandom.
make_tree() {
	local i d r n size
	RANDOM=20260501
	for ((i = 0; i < NFILES; i++)); do
		d=$tree/tree/d$((i % 8))/s$((i / 8 % 5))
		((i % 4 == 0)) && d=$d/deep$((i % 3))
		((i % 12 == 0)) && d=$d/deeper
		mkdir -p "$d"
		r=$((RANDOM % 100))
		n=$(((RANDOM << 15) | RANDOM))
		if ((r < 75)); then
			size=$((n % 32768))
		elif ((r < 96)); then
			size=$((32768 + n % (512 * 1024 - 32768)))
		else
			size=$((1048576 + n % (3 * 1048576)))
		fi
		if ((i % 50 == 7)); then
			head -c "$size" /dev/urandom >"$d/file with spaces $i.txt"
		else
			head -c "$size" /dev/urandom >"$d/f$i.dat"
		fi
	done
	for i in 0 1 2 3 4; do
		mkdir -p "$tree/tree/empty$i"
		ln -s "../d$i/s0" "$tree/tree/d$((i + 1))/link-to-d$i"
	done
}

say "making the sample tree in $tmp"
make_tree
head -c "$((size_mb * 1048576))" /dev/urandom >"$tree/big"
big_bytes=$((size_mb * 1048576))
big_sha=$(sha256sum "$tree/big" | cut -d' ' -f1)
tree_files=$(find "$tree/tree" -type f | wc -l)
tree_big_files=$(find "$tree/tree" -type f -size +1M | wc -l)
tree_dirs=$(find "$tree/tree" -type d | wc -l)
tree_bytes=$(find "$tree/tree" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
# What tar makes of the tree (headers, contents, padding), to check each
# mount's tar against: the order of the entries differs, the length does not.
tar_bytes=$(tar cf - -C "$tree/tree" . | wc -c)

total_mb=$(du -sm "$tree" | cut -f1)
img_mb=$((total_mb * 5 / 4 + 64))
say "making a ${img_mb} MiB ext4 image of it (mkfs.ext4 -d)"
mkfs.ext4 -q -F -b 4096 -L ant-fs-bench -d "$tree" "$img" "${img_mb}M" >/dev/null ||
	die "mkfs.ext4 could not make the image"
cp --sparse=always "$img" "$ant_img"

# The stack of examples/files.json: disk <- cache (1 MiB blocks, 512 MiB,
# readahead 16) <- fs.
stack=$tmp/stack.json
cat >"$stack" <<JSON
{ "name": "fs-bench", "servers": [
  { "name": "disk", "exec": "disk", "sandbox": "blockio", "args": ["--redo-log"],
    "files": [{ "path": "$ant_img", "write": true },
              { "path": "$tmp/ant.redo", "write": true, "create": true }] },
  { "name": "cache", "exec": "cache", "max_inflight": 32, "calls": ["disk"],
    "sandbox": { "groups": ["ant", "stdio", "mem", "time"], "rlimits": { "nofile": 4096 } },
    "args": ["--block-size", "1048576", "--blocks", "512", "--readahead", "16", "disk"] },
  { "name": "fs", "exec": "fs", "calls": ["cache"], "args": ["--block-size", "1048576", "cache"] }
] }
JSON

# ---- mounting ---------------------------------------------------------------

nstarts=0     # stacks started so far; each has its own run folder and log
failures=0    # restarts, kills and give-ups antd logged, over every stack

# wait_mounted MNT WHAT LOG: wait until MNT is a mountpoint, while fuse_pid lives.
wait_mounted() {
	local mnt=$1 what=$2 log=$3 n=600
	until mountpoint -q "$mnt"; do
		kill -0 "$fuse_pid" 2>/dev/null || {
			fuse_pid=
			die "$what exited before mounting; its output ($log):
$(tail -n 20 "$log")"
		}
		n=$((n - 1))
		[ $n -gt 0 ] || die "$what has not mounted $mnt after 30 s; its output ($log):
$(tail -n 20 "$log")"
		sleep 0.05
	done
}

start_antd() {
	nstarts=$((nstarts + 1))
	local run=$tmp/run$nstarts log=$tmp/antd$nstarts.log n=600
	mkdir "$run"
	"$antd" --foreground --run-dir "$run" --server-path "$build/servers" \
		--policy-path "$src/policies" "$stack" 2>"$log" &
	antd_pid=$!
	# app.sock comes first, then the servers; ant-fuse's first call would
	# wait for them, but the stack's start-up is not what is measured.
	until [ -S "$run/app.sock" ] && grep -q stack-ready "$log"; do
		kill -0 "$antd_pid" 2>/dev/null || {
			antd_pid=
			die "antd exited while starting the stack; its log ($log):
$(tail -n 20 "$log")"
		}
		n=$((n - 1))
		[ $n -gt 0 ] || die "the stack is not ready after 30 s; antd's log ($log):
$(tail -n 20 "$log")"
		sleep 0.05
	done
	run_dir=$run
}

# mount_kind KIND MNT: mount the image at MNT, read-only, as KIND.
mount_kind() {
	local kind=$1 mnt=$2 log=$tmp/$1.log
	mkdir -p "$mnt"
	cur_mnt=$mnt # before mounting: an interrupt in between must unmount it
	case $kind in
	kernel)
		loop_dev=$(losetup -r -f --show "$img") || die "losetup could not attach $img"
		mount -t ext4 -o ro "$loop_dev" "$mnt" || die "mount -t ext4 -o ro $loop_dev $mnt failed"
		;;
	fuse2fs)
		fuse2fs "$img" "$mnt" -o ro,fakeroot -f >>"$log" 2>&1 &
		fuse_pid=$!
		wait_mounted "$mnt" fuse2fs "$log"
		;;
	ant)
		start_antd
		"$ant_fuse" --run-dir "$run_dir" -f -o ro "$mnt" >>"$log" 2>&1 &
		fuse_pid=$!
		wait_mounted "$mnt" ant-fuse "$log"
		;;
	esac
}

# unmount_kind: unmount; for ant, count the failures in the stack's log.
unmount_kind() {
	local kind=$1 log=$tmp/antd$nstarts.log n
	unmount
	if [ "$kind" = ant ]; then
		n=$(grep -cE 'restart-scheduled|give-up|"kill"| kill ' "$log" || true)
		[ "$n" -eq 0 ] || say "antd logged $n restarts, kills or give-ups in $log"
		failures=$((failures + n))
	fi
}

# readahead_kb MNT: the kernel's readahead for the mount's device.
readahead_kb() {
	cat "/sys/class/bdi/$(mountpoint -d "$1")/read_ahead_kb" 2>/dev/null || echo "?"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# ---- measuring --------------------------------------------------------------

declare -A seq_runs tar_runs ra sha_ok tar_ok
mismatches=0

# measure_seq KIND MNT: one cold dd of the big file; appends MB/s to seq_runs.
measure_seq() {
	local kind=$1 mnt=$2 t0 t1 out bytes
	drop_caches
	t0=$EPOCHREALTIME
	out=$(dd if="$mnt/big" of=/dev/null bs=1M 2>&1) || die "dd through $kind failed: $out"
	t1=$EPOCHREALTIME
	bytes=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' <<<"$out")
	[ "$bytes" = "$big_bytes" ] || die "dd through $kind read ${bytes:-?} bytes of $big_bytes: $out"
	seq_runs[$kind]+="$(awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN {printf "%.1f", b / (z - a) / 1e6}') "
}

# measure_tar KIND MNT: one cold tar of the tree; appends seconds to tar_runs.
measure_tar() {
	local kind=$1 mnt=$2 t0 t1 bytes
	drop_caches
	t0=$EPOCHREALTIME
	# GNU tar skips reading files when its output is /dev/null: hence the pipe.
	tar cf - -C "$mnt/tree" . 2>"$tmp/tar.err" | wc -c >"$tmp/tar.count" ||
		die "tar through $kind failed: $(cat "$tmp/tar.err")"
	t1=$EPOCHREALTIME
	bytes=$(cat "$tmp/tar.count")
	if [ "$bytes" != "$tar_bytes" ]; then
		say "MISMATCH: tar through $kind made $bytes bytes, of the source tree $tar_bytes"
		tar_ok[$kind]=no
		mismatches=$((mismatches + 1))
	fi
	tar_runs[$kind]+="$(awk -v a="$t0" -v z="$t1" 'BEGIN {printf "%.3f", z - a}') "
}

# check_sha KIND MNT: the big file through KIND has the source's sha256.
check_sha() {
	local kind=$1 sum
	sum=$(sha256sum "$2/big" | cut -d' ' -f1)
	if [ "$sum" = "$big_sha" ]; then
		sha_ok[$kind]=yes
	else
		say "MISMATCH: the big file's sha256 through $kind is $sum, the source's $big_sha"
		sha_ok[$kind]=NO
		mismatches=$((mismatches + 1))
	fi
}

say "$runs runs; each: ${MOUNTS[*]}, a fresh mount and dropped caches per measurement"
for ((r = 1; r <= runs; r++)); do
	for kind in "${MOUNTS[@]}"; do
		mnt=$tmp/mnt/$kind
		mount_kind "$kind" "$mnt"
		measure_seq "$kind" "$mnt"
		# After a read: ant-fuse sets its readahead just after mounting.
		[ -n "${ra[$kind]:-}" ] || ra[$kind]=$(readahead_kb "$mnt")
		((r == 1)) && check_sha "$kind" "$mnt"
		unmount_kind "$kind"
		mount_kind "$kind" "$mnt"
		measure_tar "$kind" "$mnt"
		unmount_kind "$kind"
		: "${tar_ok[$kind]:=yes}"
		say "run $r/$runs $kind: seq $(awk '{print $NF}' <<<"${seq_runs[$kind]}") MB/s, tar $(awk '{print $NF}' <<<"${tar_runs[$kind]}") s"
	done
done
if cmp -s "$img" "$ant_img"; then
	ant_img_same=yes
else
	ant_img_same=no
	say "note: ant's copy of the image differs from the original after the runs (fs wrote to it)"
fi

# ---- the table --------------------------------------------------------------

# median V...: the middle value (the mean of the two middle ones for an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# spread V...: "min-max".
spread() {
	printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'
}
calc() { awk "BEGIN {printf \"%.2f\", $1}"; }
yesno() { awk "BEGIN {print ($1) ? \"yes\" : \"no\"}"; }

declare -A seq_med tar_med
for kind in "${MOUNTS[@]}"; do
	# shellcheck disable=SC2086 # the runs are a space-separated list
	seq_med[$kind]=$(median ${seq_runs[$kind]})
	# shellcheck disable=SC2086
	tar_med[$kind]=$(median ${tar_runs[$kind]})
done
# ant's speed over each: MB/s over MB/s, and the other's tar time over ant's.
seq_vs_fuse2fs=$(calc "${seq_med[ant]} / ${seq_med[fuse2fs]}")
seq_vs_kernel=$(calc "${seq_med[ant]} / ${seq_med[kernel]}")
tar_vs_fuse2fs=$(calc "${tar_med[fuse2fs]} / ${tar_med[ant]}")
tar_vs_kernel=$(calc "${tar_med[kernel]} / ${tar_med[ant]}")
seq_met=$(yesno "${seq_med[ant]} >= $TARGET_SEQ * ${seq_med[fuse2fs]}")
tar_met=$(yesno "${tar_med[ant]} * $TARGET_TAR <= ${tar_med[fuse2fs]}")
tree_mib=$(calc "$tree_bytes / 1048576")

echo
echo "fs-bench: cold reads of one ext4 image ($img_mb MiB), median of $runs runs, $(uname -r), $(nproc) CPUs"
echo "  seq: dd bs=1M of one $size_mb MiB file of random bytes"
echo "  tar: tar cf - of a tree of $tree_files files ($tree_big_files over 1 MiB), $tree_dirs folders, $tree_mib MiB"
echo
printf '%-10s %10s %15s %9s %15s %7s %8s %8s\n' mount "seq MB/s" "(min-max)" "tar s" "(min-max)" "ra KiB" "sha256" "tar ok"
for kind in "${MOUNTS[@]}"; do
	# shellcheck disable=SC2086
	printf '%-10s %10.1f %15s %9.3f %15s %7s %8s %8s\n' "$kind" "${seq_med[$kind]}" \
		"($(spread ${seq_runs[$kind]}))" "${tar_med[$kind]}" "($(spread ${tar_runs[$kind]}))" \
		"${ra[$kind]}" "${sha_ok[$kind]}" "${tar_ok[$kind]}"
done
echo
echo "ant's speed over the others (1.00 = as fast; tar: their time over ant's)"
printf '%-16s %8s %8s\n' "" seq tar
printf '%-16s %7sx %7sx\n' "ant / fuse2fs" "$seq_vs_fuse2fs" "$tar_vs_fuse2fs"
printf '%-16s %7sx %7sx\n' "ant / kernel" "$seq_vs_kernel" "$tar_vs_kernel"
echo
echo "targets: seq >= ${TARGET_SEQ}x fuse2fs: $seq_met; tar >= ${TARGET_TAR}x fuse2fs (time <= $(calc "1 / $TARGET_TAR")x): $tar_met"
[ "$failures" -eq 0 ] || echo "note: antd logged $failures server restarts, kills or give-ups (logs: antd*.log)"
[ "$ant_img_same" = yes ] || echo "note: ant's copy of the image changed during the runs"

# ---- JSON -------------------------------------------------------------------

# list V...: a JSON array of numbers.
list() {
	local IFS=,
	printf '[%s]' "$*"
}
if [ -n "$json" ]; then
	{
		printf '{"benchmark": "fs", "runs": %d, "kernel_release": "%s", "cpus": %d,\n' \
			"$runs" "$(uname -r)" "$(nproc)"
		printf ' "image_mib": %d, "big_file_bytes": %d, "tree_files": %d, "tree_dirs": %d, "tree_bytes": %d,\n' \
			"$img_mb" "$big_bytes" "$tree_files" "$tree_dirs" "$tree_bytes"
		printf ' "mounts": {'
		sep=
		# shellcheck disable=SC2086 # the runs are a space-separated list
		for kind in "${MOUNTS[@]}"; do
			printf '%s\n  "%s": {"seq_mb_s": %s, "seq_mb_s_runs": %s, "tar_s": %s, "tar_s_runs": %s, "readahead_kb": "%s", "sha256_ok": %s, "tar_bytes_ok": %s}' \
				"$sep" "$kind" "${seq_med[$kind]}" "$(list ${seq_runs[$kind]})" \
				"${tar_med[$kind]}" "$(list ${tar_runs[$kind]})" "${ra[$kind]}" \
				"$([ "${sha_ok[$kind]}" = yes ] && echo true || echo false)" \
				"$([ "${tar_ok[$kind]}" = yes ] && echo true || echo false)"
			sep=,
		done
		printf '},\n'
		printf ' "ratios": {"seq_ant_over_fuse2fs": %s, "seq_ant_over_kernel": %s, "tar_ant_over_fuse2fs": %s, "tar_ant_over_kernel": %s},\n' \
			"$seq_vs_fuse2fs" "$seq_vs_kernel" "$tar_vs_fuse2fs" "$tar_vs_kernel"
		printf ' "targets": {"seq_over_fuse2fs": %s, "tar_over_fuse2fs": %s, "seq_met": %s, "tar_met": %s},\n' \
			"$TARGET_SEQ" "$TARGET_TAR" "$([ "$seq_met" = yes ] && echo true || echo false)" \
			"$([ "$tar_met" = yes ] && echo true || echo false)"
		printf ' "antd_failures": %d, "ant_image_unchanged": %s}\n' \
			"$failures" "$([ "$ant_img_same" = yes ] && echo true || echo false)"
	} >"$json"
	say "wrote $json"
fi

say "done in $SECONDS s"
[ "$mismatches" -eq 0 ] || die "$mismatches reads did not match the source: the numbers above are not to be trusted"
