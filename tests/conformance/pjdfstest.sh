#!/usr/bin/env bash
# pjdfstest.sh - the POSIX file system suite pjdfstest on the file stack, beside fuse2fs and the kernel's ext4.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: tests/conformance/pjdfstest.sh [OPTIONS]
Build pjdfstest (../shared/conformance/pjdfstest, or --suite), make a fresh
ext4 image for each mount, mount it, run the suite in it as root, and print
the subtests passed per category side by side; then check each image with
e2fsck -fn.  Needs root, /dev/fuse, fuse2fs, mkfs.ext4, prove's perl.

  --build DIR       the ant build (default: build/, next to this tree)
  --suite DIR       pjdfstest's sources (default: ../shared/conformance/pjdfstest)
  --mounts LIST     comma-separated, of: ext4 (the kernel's, on a loop device),
                    fuse2fs, ant (disk <- cache <- fs with ant-fuse)
                    (default: ext4,fuse2fs,ant)
  --only CATS       comma-separated categories (chmod,link,...; default all)
  --kill-every MS   on the ant mount, SIGKILL a random server of the stack
                    every MS milliseconds while the suite runs
  --size MB         the image's size (default 256)
  --json FILE       write the figures as JSON too
  --keep            keep the work folder (images, logs) and say where
  --help            this text

Exit status: 0 if the suite ran on every mount and every image is
e2fsck-clean; 1 otherwise; 2 on bad usage.
USAGE
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$here/build
suite=$(cd "$here/.." && pwd)/shared/conformance/pjdfstest
mounts=ext4,fuse2fs,ant
only=""
kill_ms=0
size=256
json=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=${2:?--build DIR}; shift 2 ;;
	--suite) suite=${2:?--suite DIR}; shift 2 ;;
	--mounts) mounts=${2:?--mounts LIST}; shift 2 ;;
	--only) only=${2:?--only CATS}; shift 2 ;;
	--kill-every) kill_ms=${2:?--kill-every MS}; shift 2 ;;
	--size) size=${2:?--size MB}; shift 2 ;;
	--json) json=${2:?--json FILE}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "pjdfstest.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $kill_ms in '' | *[!0-9]*) echo "pjdfstest.sh: --kill-every: milliseconds, got '$kill_ms'" >&2; exit 2 ;; esac
case $size in '' | *[!0-9]* | 0) echo "pjdfstest.sh: --size: megabytes, got '$size'" >&2; exit 2 ;; esac
for m in ${mounts//,/ }; do
	case $m in ext4 | fuse2fs | ant) ;; *) echo "pjdfstest.sh: unknown mount '$m' (ext4, fuse2fs, ant)" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "pjdfstest.sh: needs root (the suite switches users; mounts)" >&2; exit 1; }
[ -f "$suite/pjdfstest.c" ] || { echo "pjdfstest.sh: no pjdfstest sources in $suite (--suite)" >&2; exit 1; }
[ -x "$build/supervisor/antd" ] || { echo "pjdfstest.sh: no antd in $build (build it, or --build)" >&2; exit 1; }
build=$(cd "$build" && pwd)

work=$(mktemp -d /tmp/ant-pjdfstest-XXXXXX)
chmod 755 "$work"
killer=""
cleanup() {
	[ -n "$killer" ] && kill "$killer" 2>/dev/null
	for m in "$work"/mnt-*; do
		[ -d "$m" ] || continue
		if mountpoint -q "$m"; then fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null || umount -l "$m"; fi
	done
	[ -f "$work/loopdev" ] && losetup -d "$(cat "$work/loopdev")" 2>/dev/null
	[ -S "$work/ant/run/control.sock" ] && "$build/tools/antctl" --run-dir "$work/ant/run" shutdown >/dev/null 2>&1
	if [ "$keep" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The suite, built once into the work folder (it finds its program next to tests/).
echo "== building pjdfstest from $suite"
cp -r "$suite" "$work/pjdfstest"
(cd "$work/pjdfstest" && autoreconf -ifs && ./configure && make pjdfstest) >"$work/pjdfstest-build.log" 2>&1 ||
	{ tail -20 "$work/pjdfstest-build.log"; echo "pjdfstest.sh: building pjdfstest failed" >&2; exit 1; }
cats=$(cd "$work/pjdfstest/tests" && for d in */; do echo "${d%/}"; done)
if [ -n "$only" ]; then
	for c in ${only//,/ }; do
		[ -d "$work/pjdfstest/tests/$c" ] || { echo "pjdfstest.sh: no category '$c' (of: $(echo $cats))" >&2; exit 2; }
	done
	cats=${only//,/ }
fi

# mount_ext4 | mount_fuse2fs | mount_ant IMAGE MOUNTPOINT
mount_ext4() {
	local dev
	dev=$(losetup -f --show "$1")
	echo "$dev" >"$work/loopdev"
	mount "$dev" "$2"
}
mount_fuse2fs() { fuse2fs -o allow_other "$1" "$2" >"$work/fuse2fs.log" 2>&1; }
mount_ant() {
	mkdir -p "$work/ant"
	mv "$1" "$work/ant/disk.img"
	cp "$here/examples/files.json" "$work/ant/files.json"
	mkdir -m 700 "$work/ant/run"
	"$build/supervisor/antd" --run-dir "$work/ant/run" --server-path "$build/servers" "$work/ant/files.json" >/dev/null
	"$build/tools/ant-fuse" --run-dir "$work/ant/run" -o allow_other "$2"
}
unmount() {
	local m=$1
	fusermount3 -u "$m" 2>/dev/null || umount "$m"
	if [ -f "$work/loopdev" ]; then losetup -d "$(cat "$work/loopdev")"; rm -f "$work/loopdev"; fi
}

# kill_loop MS: SIGKILL a random server of the ant stack every MS ms.
kill_loop() {
	local ms=$1 n=0
	while :; do
		sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"
		local pids
		pids=$("$build/tools/antctl" --run-dir "$work/ant/run" --json status 2>/dev/null |
			python3 -c 'import json,sys; print(" ".join(str(s["pid"]) for s in json.load(sys.stdin)["servers"] if s["pid"] > 0))' 2>/dev/null) || continue
		set -- $pids
		[ $# -gt 0 ] || continue
		local pick=$((RANDOM % $#)) i=0 p
		for p in "$@"; do
			if [ $i = $pick ]; then kill -KILL "$p" 2>/dev/null && n=$((n + 1)) && echo "$n" >"$work/kills"; fi
			i=$((i + 1))
		done
	done
}

# run_suite MOUNTPOINT NAME: every .t of each category, its TAP counted.
run_suite() {
	local mnt=$1 name=$2
	mkdir -m 0777 "$mnt/pjd"
	: >"$work/$name.tap"
	local c t
	for c in $cats; do
		for t in "$work/pjdfstest/tests/$c"/*.t; do
			echo "# FILE $c/$(basename "$t")" >>"$work/$name.tap"
			(cd "$mnt/pjd" && timeout 300 prove -v "$t" 2>&1 || true) >>"$work/$name.tap"
		done
	done
}

# count NAME CATEGORY: "passed total" of a category's subtests (a planned
# subtest that never printed, the file having bailed out, counts as failed).
count() {
	awk -v c="$2" '
		/^# FILE / { split($3, a, "/"); inc = (a[1] == c); if (inc) { t += plan; plan = 0 } next }
		!inc { next }
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan = $0 + 0; next }
		/^ok [0-9]/ { p++ }
		END { t += plan; printf "%d %d\n", p, t }' "$work/$1.tap"
}

declare -A passed total fsck
for m in ${mounts//,/ }; do
	img=$work/$m.img
	mnt=$work/mnt-$m
	mkdir "$mnt"
	truncate -s "${size}M" "$img"
	mkfs.ext4 -q -F "$img"
	echo "== $m: mounting a fresh ${size} MiB ext4 image"
	"mount_$m" "$img" "$mnt"
	[ "$m" = ant ] && img=$work/ant/disk.img
	if [ "$m" = ant ] && [ "$kill_ms" -gt 0 ]; then
		kill_loop "$kill_ms" &
		killer=$!
	fi
	start=$SECONDS
	run_suite "$mnt" "$m"
	if [ -n "$killer" ]; then kill "$killer" 2>/dev/null; wait "$killer" 2>/dev/null || true; killer=""; fi
	echo "   ran in $((SECONDS - start)) s$([ "$m" = ant ] && [ "$kill_ms" -gt 0 ] && echo ", $(cat "$work/kills" 2>/dev/null || echo 0) servers killed")"
	unmount "$mnt"
	[ "$m" = ant ] && "$build/tools/antctl" --run-dir "$work/ant/run" shutdown >/dev/null
	if e2fsck -fn "$img" >"$work/$m.fsck" 2>&1; then fsck[$m]=clean; else fsck[$m]="exit $?"; fi
	for c in $cats; do
		read -r p t < <(count "$m" "$c")
		passed[$m,$c]=$p
		total[$m,$c]=$t
	done
done

printf '\n%-16s' category
for m in ${mounts//,/ }; do printf '%18s' "$m"; done
echo
fail=0
declare -A sum_p sum_t
for c in $cats; do
	printf '%-16s' "$c"
	for m in ${mounts//,/ }; do
		printf '%18s' "${passed[$m,$c]}/${total[$m,$c]}"
		sum_p[$m]=$((${sum_p[$m]:-0} + passed[$m,$c]))
		sum_t[$m]=$((${sum_t[$m]:-0} + total[$m,$c]))
	done
	echo
done
printf '%-16s' "all"
for m in ${mounts//,/ }; do
	printf '%18s' "${sum_p[$m]}/${sum_t[$m]} $(awk -v p="${sum_p[$m]}" -v t="${sum_t[$m]}" 'BEGIN { printf "%.1f%%", t ? 100 * p / t : 0 }')"
done
echo
printf '%-16s' "e2fsck -fn"
for m in ${mounts//,/ }; do
	printf '%18s' "${fsck[$m]}"
	[ "${fsck[$m]}" = clean ] || fail=1
done
echo
if [ -n "$json" ]; then
	{
		printf '{"kill_every_ms": %d, "size_mb": %d, "mounts": {' "$kill_ms" "$size"
		sep=""
		for m in ${mounts//,/ }; do
			printf '%s"%s": {"passed": %d, "total": %d, "fsck": "%s", "categories": {' "$sep" "$m" \
				"${sum_p[$m]}" "${sum_t[$m]}" "${fsck[$m]}"
			csep=""
			for c in $cats; do
				printf '%s"%s": [%d, %d]' "$csep" "$c" "${passed[$m,$c]}" "${total[$m,$c]}"
				csep=", "
			done
			printf '}}'
			sep=", "
		done
		printf '}}\n'
	} >"$json"
	echo "figures: $json"
fi
for m in ${mounts//,/ }; do
	[ "${fsck[$m]}" = clean ] || { echo "e2fsck of the $m image:"; sed 's/^/    /' "$work/$m.fsck" | tail -20; }
done
exit $fail
