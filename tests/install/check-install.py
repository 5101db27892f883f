#!/usr/bin/env python3
"""check-install.py - install the build into a temporary root and use it as a newcomer would.

usage: check-install.py BUILD_ROOT SOURCE_ROOT

What it checks.
1. `meson install --destdir T/root` of BUILD_ROOT puts every file meson's
   install plan lists (`meson introspect --installed`) under T/root, and what
   the project promises is among them: antd in sbindir, the tools in bindir,
   the servers in libexecdir/ant, libant (shared and static), its headers
   and libant.pc, the policies.
2. docs/writing-a-server.md runs as written, against that install: its
   ```c NAME and ```json NAME blocks are written to files in T/work, its
   ```sh blocks run line by line there (each line in `bash -o pipefail -c`,
   as tests/readme/run-readme.py runs the README's), and a ```text block right
   after a ```sh block lists lines each of which must appear in what that
   block printed.  The environment makes the install under T/root what a
   reader's /usr/local would be: PATH, PKG_CONFIG_SYSROOT_DIR and
   PKG_CONFIG_PATH, and LD_LIBRARY_PATH (the loader does not search T/root).
3. The installed antd ran the installed servers: its log names libexecdir/ant
   under T/root for the example server the guide uses.

Cleaning up, also after a failure: every antd under T is stopped (as the
README test does) and T is removed.
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location('run_readme', os.path.join(HERE, '..', 'readme', 'run-readme.py'))
readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme)


class Fail(Exception):
    pass


def options(build):
    out = subprocess.run(['meson', 'introspect', '--buildoptions', build], check=True,
                         capture_output=True, text=True).stdout
    return {o['name']: o['value'] for o in json.loads(out)}


def installed_plan(build):
    out = subprocess.run(['meson', 'introspect', '--installed', build], check=True,
                         capture_output=True, text=True).stdout
    return sorted(set(json.loads(out).values()))


def guide_blocks(path):
    """The guide's fenced blocks: (kind, name, first line, [(line, text)], the
    block before it, whether prose lies between the two)."""
    out, cur, prose = [], None, False
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if cur is None:
                if line.startswith('```'):
                    words = line[3:].split()
                    cur = (words[0] if words else '', words[1] if len(words) > 1 else None, no, [],
                           out[-1] if out else None, prose)
                    out.append(cur)
                    prose = False
                elif line.strip():
                    prose = True
            elif line.strip() == '```':
                cur = None
            else:
                cur[3].append((no, line))
    if cur is not None:
        raise Fail(f'{path}:{cur[2]}: a block that never ends')
    return out


def run_guide(guide, work, env):
    blocks = guide_blocks(guide)
    ran, last_sh_output, last_sh = 0, None, None
    for kind, name, start, lines, before, prose_between in blocks:
        text = '\n'.join(t for _, t in lines) + '\n'
        if kind in ('c', 'json') and name:
            with open(os.path.join(work, name), 'w') as f:
                f.write(text)
            print(f'-- wrote {name} (guide line {start})')
        elif kind == 'sh':
            printed = []
            block = readme.Block(start, None)
            block.lines = lines
            for no, cmd in readme.commands(block):
                why = readme.run_line(no, cmd, work, env, printed)
                ran += 1
                if why:
                    raise Fail(f'writing-a-server.md:{no}: {cmd.strip()}\n  failed: {why}')
            last_sh_output, last_sh = printed, start
        elif kind == 'text' and before and before[0] == 'sh' and not prose_between:
            for no, want in lines:
                if want.strip() and not any(want.strip() in got for got in last_sh_output):
                    raise Fail(f'writing-a-server.md:{no}: the block at line {last_sh} did not '
                               f'print "{want.strip()}"')
            print(f'-- guide line {start}: the {len(lines)} expected lines were printed')
    if ran == 0:
        raise Fail('the guide has no ```sh block')
    return ran


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('\n\n')[1])
    build, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    signal.signal(signal.SIGTERM, readme.on_sigterm)
    opt = options(build)
    if opt.get('b_sanitize', 'none') != 'none':
        print(f'skipped: install (a build under -Db_sanitize={opt["b_sanitize"]}: a program '
              'built outside it could not link its libant)')
        return 77
    top = tempfile.mkdtemp(prefix='ant-install-')
    os.chmod(top, 0o755)     # antd as root runs servers as users of their own
    root, work = os.path.join(top, 'root'), os.path.join(top, 'work')
    os.mkdir(work, 0o755)
    started = time.monotonic()
    try:
        r = subprocess.run(['meson', 'install', '-C', build, '--destdir', root, '--no-rebuild'],
                           capture_output=True, text=True)
        if r.returncode:
            raise Fail(f'meson install failed:\n{r.stdout}{r.stderr}')
        prefix = opt['prefix']

        def at(key, *rest):
            d = opt[key] if os.path.isabs(opt[key]) else os.path.join(prefix, opt[key])
            return os.path.join(root + d, *rest)

        plan = installed_plan(build)
        missing = [p for p in plan if not os.path.lexists(root + p)]
        if missing:
            raise Fail(f'{len(missing)} planned files not installed: {missing[:10]}')
        promised = [at('sbindir', 'antd'), at('bindir', 'ant-call'), at('bindir', 'antctl'),
                    at('bindir', 'ant-bench'), at('libexecdir', 'ant', 'echo'),
                    at('libexecdir', 'ant', 'relay'), at('includedir', 'ant', 'ant.h'),
                    at('libdir', 'libant.so'), at('libdir', 'libant.a'),
                    at('libdir', 'pkgconfig', 'libant.pc'),
                    at('datadir', 'ant', 'policies', 'default.json'),
                    at('datadir', 'ant', 'policies', 'sandbox', 'groups.json')]
        promised += [at('datadir', 'bash-completion', 'completions', p)
                     for p in ('antctl', 'ant-call', 'ant-bench', 'ant-fs', 'ant-fuse')]
        unitdir = [p for p in plan if p.endswith('/antd@.service')]
        if len(unitdir) != 1:
            raise Fail(f'the install plan has {len(unitdir)} antd@.service units')
        promised.append(root + unitdir[0])
        if os.path.exists(os.path.join(build, 'docs', 'antd.8')):
            promised += [at('mandir', 'man8', 'antd.8'), at('mandir', 'man3', 'libant.3'),
                         at('mandir', 'man5', 'ant-stack.5'), at('mandir', 'man1', 'ant-call.1')]
        absent = [p for p in promised if not os.path.exists(p)]
        if absent:
            raise Fail(f'not installed: {" ".join(absent)}')
        print(f'-- installed {len(plan)} files under {root}; the {len(promised)} promised ones are there')

        env = dict(os.environ)
        for k in ('ANT_RUN_DIR', 'ANT_SERVER_PATH', 'ANT_POLICY_PATH', 'PKG_CONFIG_LIBDIR'):
            env.pop(k, None)
        env['ANT_RUN_BASE'] = os.path.join(top, 'run')
        env['PATH'] = f'{at("bindir")}:{at("sbindir")}:' + env.get('PATH', '/usr/bin:/bin')
        env['PKG_CONFIG_SYSROOT_DIR'] = root
        env['PKG_CONFIG_PATH'] = at('libdir', 'pkgconfig')
        env['LD_LIBRARY_PATH'] = at('libdir')
        ran = run_guide(os.path.join(src, 'docs', 'writing-a-server.md'), work, env)

        log = open(os.path.join(work, 'run', 'antd.log')).read()
        echo = at('libexecdir', 'ant', 'echo')
        if f': {echo}' not in log:
            raise Fail(f'the installed antd did not start the installed echo ({echo}); its log:\n{log}')
        print(f'-- the installed antd ran the installed servers ({echo})')
    except Fail as e:
        print(f'\nFAILED {e}')
        return 1
    finally:
        readme.cleanup(top)
    print(f'\ninstall: {ran} lines of docs/writing-a-server.md ran as written against the install, '
          f'in {time.monotonic() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
