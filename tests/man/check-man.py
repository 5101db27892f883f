#!/usr/bin/env python3
"""check-man.py - the man pages render cleanly and say what the programs say.

usage: check-man.py SOURCE_ROOT BUILD_ROOT

1. Every page the build made (BUILD_ROOT/docs/*.N, from docs/man/*.scd by
   scdoc) renders with `man --warnings -l` and nothing on standard error, and
   has the sections NAME, SYNOPSIS, DESCRIPTION and SEE ALSO.
2. A program's page and its --help list the same options: the long options
   (--name) in the page's OPTIONS and COMMANDS sections are those in
   `PROG --help` and, for a program with commands (antctl, ant-bench), in
   `PROG COMMAND --help` of each command its --help lists.  An option added to
   the program and not to its page, or the other way round, fails here.
3. libant(3) shows the server of docs/writing-a-server.md whole: every line of
   its ```c shout.c block is in the rendered page, in order.
"""
import os
import re
import subprocess
import sys

OPT = re.compile(r'--[a-z][a-z0-9-]*')
PROGRAMS = {   # page: (program in the build, how to list its commands)
    'antd.8': ('supervisor/antd', None),
    'antctl.8': ('tools/antctl', 'antctl'),
    'ant-call.1': ('tools/ant-call', None),
    'ant-bench.1': ('tools/ant-bench', 'ant-bench'),
    'ant-fs.1': ('tools/ant-fs', None),
    'ant-fuse.1': ('tools/ant-fuse', None),
}
PAGES = list(PROGRAMS) + ['ant-stack.5', 'ant-policy.5', 'libant.3']


def help_text(prog, *args):
    r = subprocess.run([prog, *args, '--help'], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise SystemExit(f'FAILED {" ".join([prog, *args])} --help: exit {r.returncode}: {r.stderr}')
    return r.stdout


def commands(kind, text):
    """The commands a program's --help lists ("Commands:" then indented names)."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r'(Commands|COMMANDS)\b.*:$', line.strip()):
            inside = True
            continue
        if inside:
            if not line.strip():
                if out:
                    break
                continue
            m = re.match(r'  ([a-z][a-z0-9-]*)\b', line)
            if m and m.group(1) != 'help':
                out.append(m.group(1))
            elif not line.startswith('   '):
                break
    return out


def page_options(scd):
    """Long options in the OPTIONS and COMMANDS sections of an scdoc source."""
    found, keep = set(), False
    for line in open(scd):
        if line.startswith('# '):
            keep = line[2:].strip() in ('OPTIONS', 'COMMANDS')
        elif keep:
            found |= set(OPT.findall(line.replace('\\\\', '\\')))
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('\n\n')[1])
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    failed = []
    env = dict(os.environ, MANWIDTH='80', LC_ALL='C.UTF-8')
    rendered = {}
    for page in PAGES:
        path = os.path.join(build, 'docs', page)
        r = subprocess.run(['man', '--warnings', '-l', path], capture_output=True, text=True,
                           env=env, timeout=60)
        rendered[page] = r.stdout
        if r.returncode or r.stderr.strip():
            failed.append(f'{page}: man --warnings: exit {r.returncode}\n{r.stderr}')
            continue
        missing = [s for s in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'SEE ALSO')
                   if not re.search(rf'^{s}$', r.stdout, re.M)]
        if missing:
            failed.append(f'{page}: no section {", ".join(missing)}')
            continue
        print(f'-- {page}: renders without warnings ({len(r.stdout.splitlines())} lines)')

    for page, (rel, multi) in PROGRAMS.items():
        prog = os.path.join(build, rel)
        if not os.path.exists(prog):
            print(f'skipped: man {page} options ({rel} not built here)')
            continue
        top = help_text(prog)
        said = set(OPT.findall(top))
        cmds = commands(multi, top) if multi else []
        for c in cmds:
            said |= set(OPT.findall(help_text(prog, c)))
        wrote = page_options(os.path.join(src, 'docs', 'man', page + '.scd'))
        if said != wrote:
            failed.append(f'{page}: --help and the page differ: only in --help: '
                          f'{sorted(said - wrote)}; only in the page: {sorted(wrote - said)}')
        else:
            print(f'-- {page}: the same {len(said)} options as {os.path.basename(prog)} --help'
                  + (f' and its {len(cmds)} commands\' --help' if cmds else ''))

    guide = open(os.path.join(src, 'docs', 'writing-a-server.md')).read()
    m = re.search(r'^```c shout\.c\n(.*?)^```$', guide, re.M | re.S)
    if not m:
        failed.append('docs/writing-a-server.md has no ```c shout.c block')
    else:
        lines = [l.strip() for l in m.group(1).splitlines() if l.strip()]
        text = [l.strip() for l in rendered.get('libant.3', '').splitlines()]
        at = 0
        for l in lines:
            try:
                at = text.index(l, at) + 1
            except ValueError:
                failed.append(f'libant.3: the guide\'s shout.c line "{l}" is not in it (in order)')
                break
        else:
            print(f'-- libant.3: the guide\'s shout.c, all {len(lines)} lines, in order')
    if failed:
        print('\nFAILED\n' + '\n'.join(failed))
        return 1
    print(f'\nman: {len(PAGES)} pages render cleanly; the programs\' pages match their --help')
    return 0


if __name__ == '__main__':
    sys.exit(main())
