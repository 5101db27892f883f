#!/usr/bin/env python3
"""run-readme.py - run README.md's ```sh blocks as written, in order, so that the README cannot drift.

usage: run-readme.py SOURCE_ROOT BUILD_ROOT [FEATURE...]
  FEATURE: what this build has, from meson (tests/meson.build): "fuse" if it
  built ant-fuse.

What runs.  Every ```sh block of SOURCE_ROOT/README.md, top to bottom, one
line after another (a line ending in a backslash joins the next; blank and
comment-only lines are passed over), each line in its own
`bash -o pipefail -c LINE`, as a reader pastes them.  A line that exits
non-zero, or runs longer than LINE_TIMEOUT_S, fails the test, named by its
line in README.md; nothing after it runs.

The README's markers: an HTML comment on the line before a block; one that
says something else fails the test.
  <!-- readme-test: skip (WHY) -->            the block is not run.
  <!-- readme-test: needs root fuse (NAME) --> the block runs only as root
      (root), with /dev/fuse, fusermount3 and a build with ant-fuse (fuse);
      elsewhere it is passed over with a line "skipped: readme NAME (needs
      ...)", which ./ant test counts as a skipped test.

Where it runs.  A new temporary folder T.  The lines run in T/work, where
`build` is a symlink to BUILD_ROOT and every other top-level entry of
SOURCE_ROOT (examples, policies, docs, ...) a symlink to the source's, so the
README's relative paths (build/tools/antctl, examples/chain3.json) mean what
they mean in a checkout.  One substitution, mechanical: an absolute path
under /tmp or /mnt becomes the same path under T (/tmp/chain3 ->
T/tmp/chain3, /mnt/ant -> T/mnt/ant), so that the README's fixed folders
never meet a stack or a mount of the user's; each line is printed as it runs,
after the substitution.  ANT_RUN_DIR is unset and ANT_RUN_BASE is T/run, so
that a line cannot reach a stack under /run/ant either.

Cleaning up, also after a failure, a timeout or SIGTERM: every mount under T
is unmounted, every antd whose antd.pid lies under T gets SIGTERM (SIGKILL
after 10 s) and is waited for, and T is removed.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LINE_TIMEOUT_S = 180          # ant-bench chain, the slowest line, takes ~20 s
WORDS = {'skip', 'needs', 'root', 'fuse'}   # what a marker may say
MARKER = re.compile(r'<!--\s*readme-test:\s*(?P<words>[a-z ]+?)\s*(?:\((?P<text>[^)]*)\))?\s*-->')
FIXED_PATH = re.compile(r'(?<![\w.~/$-])/(tmp|mnt)(?=/|\s|$)')


class Block:
    def __init__(self, start, marker):
        self.start = start        # README line of the opening ```sh
        self.marker = marker      # the match of the marker before it, or None
        self.lines = []           # (README line number, text)

    @property
    def name(self):
        """The NAME of 'needs ... (NAME)', else where the block starts."""
        if 'needs' in self.words() and self.marker.group('text'):
            return self.marker.group('text')
        return f'README.md:{self.start}'

    def words(self):
        return self.marker.group('words').split() if self.marker else []


def blocks(readme):
    """The ```sh blocks of readme, each with the marker on the line before it."""
    out, cur, prev = [], None, ''
    with open(readme) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if cur is None:
                if line.strip() == '```sh':
                    cur = Block(no, MARKER.search(prev))
                    out.append(cur)
                elif line.strip():
                    prev = line
            elif line.strip() == '```':
                cur, prev = None, ''
            else:
                cur.lines.append((no, line))
    if cur is not None:
        sys.exit(f'README.md:{cur.start}: a ```sh block that never ends')
    for b in out:   # a misspelt marker must not run a block it meant to skip
        if set(b.words()) - WORDS:
            sys.exit(f'README.md:{b.start - 1}: readme-test: unknown words '
                     f'{" ".join(sorted(set(b.words()) - WORDS))} (known: {" ".join(sorted(WORDS))})')
    return out


def commands(block):
    """The block's commands: (first README line, text), continuation lines joined."""
    out, pending = [], None
    for no, text in block.lines:
        if pending:
            pending = (pending[0], pending[1][:-1] + text)
        else:
            pending = (no, text)
        if pending[1].endswith('\\'):
            continue
        if pending[1].strip() and not pending[1].lstrip().startswith('#'):
            out.append(pending)
        pending = None
    if pending:
        out.append(pending)
    return out


def missing_needs(words, features):
    """Why a block marked 'needs WORDS' cannot run here, or None."""
    why = []
    if 'root' in words and os.geteuid() != 0:
        why.append('root')
    if 'fuse' in words:
        if 'fuse' not in features:
            why.append('a build with ant-fuse')
        elif not os.access('/dev/fuse', os.W_OK) or not shutil.which('fusermount3'):
            why.append('/dev/fuse and fusermount3')
    return ', '.join(why) or None


def mounts_under(top):
    """Mount points under top, deepest first (/proc/self/mounts escapes spaces as \\040)."""
    found = []
    with open('/proc/self/mounts') as f:
        for line in f:
            mp = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), line.split()[1])
            if mp == top or mp.startswith(top + '/'):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def antd_pids_under(top):
    """The running antds whose antd.pid lies under top (their command line names top)."""
    pids = []
    for dirpath, _, files in os.walk(top):
        if 'antd.pid' not in files:
            continue
        try:
            pid = int(open(os.path.join(dirpath, 'antd.pid')).read().split()[0])
            cmdline = open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace')
        except (OSError, ValueError, IndexError):
            continue              # gone already, or not a pid
        if top in cmdline:        # not a recycled pid of somebody else's process
            pids.append(pid)
    return pids


def cleanup(top):
    for mp in mounts_under(top):
        print(f'cleanup: unmounting {mp}')
        if subprocess.run(['fusermount3', '-u', mp], stderr=subprocess.DEVNULL).returncode:
            subprocess.run(['umount', '-l', mp])
    left = mounts_under(top)
    for pid in antd_pids_under(top):
        print(f'cleanup: stopping antd {pid}')
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                time.sleep(0.1)
                os.kill(pid, 0)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:   # removing the folder would reach into the mount
        print(f'cleanup: still mounted, {top} is left: {" ".join(left)}')
    else:
        shutil.rmtree(top, ignore_errors=True)


def run_line(no, text, cwd, env, printed=None):
    """Run one README line; None if it succeeded, else why it failed.
    printed: a list the line's output lines are added to."""
    print(f'$ {text}', flush=True)
    with tempfile.TemporaryFile() as out:
        # Its output goes to a file, not a pipe: antd and ant-fuse detach and
        # would keep a pipe open after the line ends.
        p = subprocess.Popen(['bash', '-o', 'pipefail', '-c', text], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=LINE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
        except BaseException:     # SIGTERM (meson's timeout), ^C: the line goes too
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
        finally:
            out.seek(0)
            for line in out.read().decode(errors='replace').splitlines():
                print(f'    {line}')
                if printed is not None:
                    printed.append(line)
    if rc is None:
        return f'did not end within {LINE_TIMEOUT_S} s'
    return f'exit status {rc}' if rc else None


def on_sigterm(signum, frame):
    raise SystemExit(f'run-readme: signal {signum}')


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split('\n\n')[1])
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    features = set(sys.argv[3:])
    readme = os.path.join(src, 'README.md')
    todo = blocks(readme)
    signal.signal(signal.SIGTERM, on_sigterm)

    top = tempfile.mkdtemp(prefix='ant-readme-')
    if not re.fullmatch(r'[\w/.-]+', top):
        sys.exit(f'run-readme: {top}: a temporary folder the shell would have to quote')
    started, ran, blocks_ran, failed = time.monotonic(), 0, 0, None
    try:
        work = os.path.join(top, 'work')
        for d in (work, os.path.join(top, 'tmp'), os.path.join(top, 'mnt'), os.path.join(top, 'run')):
            os.mkdir(d, 0o755)
        os.symlink(build, os.path.join(work, 'build'))
        for entry in os.listdir(src):
            if entry != 'build' and not entry.startswith('.'):
                os.symlink(os.path.join(src, entry), os.path.join(work, entry))
        env = dict(os.environ)
        env.pop('ANT_RUN_DIR', None)
        env['ANT_RUN_BASE'] = os.path.join(top, 'run')
        env['PATH'] = env.get('PATH', '/usr/bin:/bin') + ':/usr/sbin:/sbin'   # mkfs.ext4

        for b in todo:
            words = b.words()
            if 'skip' in words:
                print(f'\n-- {b.name}: not run, the README says skip ({b.marker.group("text")})')
                continue
            if 'needs' in words:
                why = missing_needs(words, features)
                if why:
                    print(f'skipped: readme {b.name} (needs {why})')
                    continue
            print(f'\n-- {b.name}' + (f' (README.md:{b.start})' if 'README' not in b.name else ''),
                  flush=True)
            blocks_ran += 1
            for no, text in commands(b):
                why = run_line(no, FIXED_PATH.sub(lambda m: top + m.group(0), text), work, env)
                ran += 1
                if why:
                    failed = f'README.md:{no}: {text.strip()}\n  failed: {why}'
                    break
            if failed:
                break
    finally:
        cleanup(top)
    if failed:
        print(f'\nFAILED {failed}')
        return 1
    print(f'\nREADME.md: {ran} lines in {blocks_ran} block{"s" * (blocks_ran != 1)} ran as written, '
          f'in {time.monotonic() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
