#!/usr/bin/env bash
# files-demo.sh - the file stack of examples/files.json: an ext4 image served by disk <- cache <- fs,
# mounted with ant-fuse, read and written, and a cache killed in the middle of a large read.
set -euo pipefail

build=${1:?usage: files-demo.sh BUILD_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
run=$(mktemp -d /tmp/ant-files-demo-XXXXXX)
antd="$build/supervisor/antd"
antctl="$build/tools/antctl"
antfs="$build/tools/ant-fs"
antfuse="$build/tools/ant-fuse"
mnt="$run/mnt"
export ANT_RUN_DIR=$run/run

# shellcheck source=demo-lib.sh
. "$here/demo-lib.sh"
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
	stop_stack "$run/run"
	rm -rf "$run"
}
trap cleanup EXIT
mkfs=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
# The FUSE part (steps 3 to 6) needs root and /dev/fuse; else ant-fs stands in.
fuse=1
if [ "$(id -u)" != 0 ] || [ ! -w /dev/fuse ]; then fuse=0; fi

step "1. A folder of sample files becomes an ext4 image (mkfs.ext4 -d)"
mkdir -p "$run/tree/docs" "$run/tree/photos"
for i in $(seq -w 1 40); do
	for l in $(seq 1 $((10#$i))); do echo "note $i, line $l"; done >"$run/tree/docs/note-$i.txt"
done
cp "$here/files.json" "$run/tree/docs/files.json"
head -c $((2 << 20)) /dev/urandom >"$run/tree/photos/holiday.raw"
head -c $((192 << 20)) /dev/urandom >"$run/tree/big.bin"
show "$mkfs" -q -F -b 4096 -d "$run/tree" "$run/disk.img" 512M
echo "    $(find "$run/tree" -type f | wc -l) files, $(du -sh "$run/tree" | cut -f1) in all"

# "files" paths are taken in the stack file's folder, so the stack file goes next to the image.
cp "$here/files.json" "$run/files.json"

step "2. antd starts the stack: disk (the image and its redo log, opened by antd) <- cache <- fs"
mkdir -m 700 "$run/run"
show "$antd" --run-dir "$run/run" --server-path "$build/servers" "$run/files.json"
"$antctl" status | sed 's/^/    /'

if [ "$fuse" = 0 ]; then
	step "3. No FUSE here (needs root and /dev/fuse): the same through ant-fs"
	show "$antfs" ls /
	show "$antfs" put /hello.txt "$here/files.json"
	show "$antfs" stat /hello.txt
	"$antfs" cat /big.bin | sha256sum | sed 's/^/    through the stack: /'
	sha256sum <"$run/tree/big.bin" | sed 's/^/    the source:        /'
	echo "   (As root, with /dev/fuse, the demo mounts the image with ant-fuse, writes"
	echo "   through it, and kills the cache in the middle of a read.)"
	exit 0
fi

step "3. ant-fuse mounts it: any program now works on the supervised stack"
mkdir "$mnt"
show "$antfuse" --run-dir "$run/run" "$mnt"
show ls -l "$mnt" "$mnt/photos"
show head -n 3 "$mnt/docs/note-03.txt"
show df -h "$mnt"

step "4. Writing: each change is one transaction the disk applies whole (its redo log)"
show cp "$run/tree/photos/holiday.raw" "$mnt/photos/copy.raw"
show mkdir "$mnt/new"
show sh -c "echo 'written through FUSE' > '$mnt/new/hello.txt'"
show mv "$mnt/docs/note-01.txt" "$mnt/new/first-note.txt"
show rm "$mnt/docs/note-02.txt"
show ls -l "$mnt/new"
show cmp "$run/tree/photos/holiday.raw" "$mnt/photos/copy.raw"

step "5. The cache server is killed (SIGKILL) in the middle of reading a 192 MiB file"
echo "   The reader is sha256sum.  antd keeps a copy of the control ICA of every call in"
echo "   flight: it restarts the cache and hands the new one each call the dead one held"
echo "   (REPLAYS); calls that come meanwhile wait in the cache's queue.  The reader only"
echo "   sees a pause; the new cache starts empty and reads from the disk again."
echo "   The cache holds a read for well under a millisecond; so that the kill surely"
echo "   finds one there, a fault makes it stop (hang) at its 6th miss from now, just"
echo "   before it asks the disk for the block (a named failpoint in its code):"
show "$antctl" inject cache hang --point cache.before_disk_read --nth 6
sync
echo 3 >/proc/sys/vm/drop_caches   # so the read really goes through the stack
sha256sum "$mnt/big.bin" >"$run/sum.out" 2>&1 &
reader=$!
# The cache's pid and the control ICAs it holds; it has stopped once it holds
# the same ones twice, 0.2 s apart.
cache_holds() {
	"$antctl" status --json | python3 -c 'import json, sys
s = next(s for s in json.load(sys.stdin)["servers"] if s["name"] == "cache")
print(s["pid"], ",".join(s["holding"]))'
}
before="" now=""
for _ in $(seq 150); do
	now=$(cache_holds)
	[ -n "${now#* }" ] && [ "$now" = "$before" ] && break
	kill -0 "$reader" 2>/dev/null || break
	before=$now
	sleep 0.2
done
[ -n "${now#* }" ] && [ "$now" = "$before" ] ||
	echo "    (the cache did not stop: it is killed wherever it is)"
show "$antctl" status cache
victim=${now%% *}
printf '  $ kill -KILL %s    # the cache, holding a read of sha256sum\n' "$victim"
kill -KILL "$victim"
if wait "$reader"; then :; else echo "    the read FAILED"; fi
echo "    through the stack: $(cut -d' ' -f1 "$run/sum.out")"
echo "    the source:        $(sha256sum <"$run/tree/big.bin" | cut -d' ' -f1)"
[ "$(cut -d' ' -f1 "$run/sum.out")" = "$(sha256sum <"$run/tree/big.bin" | cut -d' ' -f1)" ] &&
	echo "    the same: nothing was lost." || echo "    DIFFERENT!"
echo "   What antd did (antctl log):"
"$antctl" log -n 60 | grep -E 'cache' | grep -E 'kill|server-exit|replay|restart|start|ready' | tail -n 5 | sed 's/^/    /'
show "$antctl" status

step "6. Unmount, stop the stack, and let e2fsck judge the image"
show fusermount3 -u "$mnt"
kill "$(cat "$run/run/antd.pid")"
for _ in $(seq 50); do [ -e "$run/run/app.sock" ] || break; sleep 0.1; done
show "$(command -v e2fsck || echo /sbin/e2fsck)" -fn "$run/disk.img"
