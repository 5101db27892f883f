#!/usr/bin/env python3
"""check-package.py - ./ant package builds a .deb that holds what meson installs, and it works.

usage: check-package.py SOURCE_ROOT

1. `SOURCE_ROOT/ant package --out T/out` builds the .deb (dpkg-buildpackage
   with debhelper's meson build system, in a copy of the tree).
2. `dpkg -c` of the .deb lists every file and link meson's install step put
   in the package (meson introspect --installed of the package's own build,
   saved by debian/rules; man pages compressed by dh_compress as NAME.gz),
   and nothing else but the package's /usr/share/doc/ant/.
3. Its Depends name the libraries antd and the tools load (libev4,
   libjansson4, libseccomp2) and python3 (ant-campaign).
4. Unpacked with `dpkg -x` into a temporary root: its unit names
   /usr/sbin/antd and /etc/ant/%i.json; its antd starts a stack of three
   relays named by bare names, finds them in the package's libexec folder
   (it looks beside itself), and its ant-call gets the answer through the
   three; its man page renders.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile


class Fail(Exception):
    pass


def sh(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=kw.pop('timeout', 120), **kw)
    if r.returncode:
        raise Fail(f'{" ".join(args)}: exit {r.returncode}\n{r.stdout}{r.stderr}')
    return r.stdout


def check(src, top):
    out = os.path.join(top, 'out')
    r = subprocess.run([os.path.join(src, 'ant'), 'package', '--out', out], capture_output=True,
                       text=True, timeout=1500)
    print(r.stdout[-2000:])
    if r.returncode:
        raise Fail(f'./ant package: exit {r.returncode}\n{r.stderr}')
    debs = glob.glob(os.path.join(out, 'ant_*.deb'))
    plans = glob.glob(os.path.join(out, 'ant_*.installed.json'))
    if len(debs) != 1 or len(plans) != 1:
        raise Fail(f'expected one .deb and one install list in {out}: {os.listdir(out)}')
    deb = debs[0]

    listed = {}
    for line in sh('dpkg', '-c', deb).splitlines():
        path = line.split(None, 5)[5]
        target = None
        if ' -> ' in path:
            path, target = path.split(' -> ', 1)
        if not path.endswith('/'):
            listed[path[1:]] = target          # './usr/...' -> '/usr/...'
    planned = sorted(set(json.load(open(plans[0])).values()))
    missing = [p for p in planned if p not in listed and
               not (p.startswith('/usr/share/man/') and p + '.gz' in listed)]
    if missing:
        raise Fail(f'dpkg -c lacks {len(missing)} of the {len(planned)} installed paths: {missing}')
    known = set(planned) | {p + '.gz' for p in planned}
    extra = [p for p in listed if p not in known and not p.startswith('/usr/share/doc/ant/')]
    if extra:
        raise Fail(f'the package holds files meson did not install: {extra}')
    print(f'-- dpkg -c: the {len(planned)} paths meson installs, and /usr/share/doc/ant')

    depends = sh('dpkg-deb', '-f', deb, 'Depends')
    for lib in ('libev4', 'libjansson4', 'libseccomp2', 'python3'):
        if lib not in depends:
            raise Fail(f'Depends lacks {lib}: {depends}')
    print(f'-- Depends: {depends.strip()}')

    root = os.path.join(top, 'root')
    sh('dpkg', '-x', deb, root)
    unit = open(os.path.join(root, 'lib', 'systemd', 'system', 'antd@.service')).read()
    for want in ('ExecStart=/usr/sbin/antd --foreground --run-dir /run/ant/%i /etc/ant/%i.json',
                 'Type=notify', 'ExecReload=/usr/bin/antctl --run-dir /run/ant/%i reexec'):
        if want not in unit:
            raise Fail(f'the packaged unit lacks "{want}":\n{unit}')
    print('-- antd@.service names /usr/sbin/antd and /etc/ant/%i.json')

    stack = os.path.join(top, 'chain3.json')
    with open(stack, 'w') as f:
        json.dump({'name': 'packaged', 'apps': {'calls': ['relay1']}, 'servers': [
            {'name': 'relay1', 'exec': 'relay', 'args': ['relay2'], 'calls': ['relay2']},
            {'name': 'relay2', 'exec': 'relay', 'args': ['relay3'], 'calls': ['relay3']},
            {'name': 'relay3', 'exec': 'relay'}]}, f)
    env = dict(os.environ, LD_LIBRARY_PATH=glob.glob(os.path.join(root, 'usr', 'lib', '*-linux-gnu'))[0])
    for k in ('ANT_RUN_DIR', 'ANT_SERVER_PATH', 'ANT_POLICY_PATH'):
        env.pop(k, None)
    run = os.path.join(top, 'run')
    sh(os.path.join(root, 'usr', 'sbin', 'antd'), '--run-dir', run, stack, env=env)
    try:
        said = sh(os.path.join(root, 'usr', 'bin', 'ant-call'), '--run-dir', run, 'relay1', 'echo',
                  'packaged', env=env)
        if 'packaged' not in said or 'relay1 -> relay2 -> relay3' not in said:
            raise Fail(f'ant-call through the packaged stack said:\n{said}')
        log = open(os.path.join(run, 'antd.log')).read()
        relay = os.path.join(root, 'usr', 'libexec', 'ant', 'relay')
        if f': {relay}' not in log:
            raise Fail(f'the packaged antd did not run the packaged relay ({relay}):\n{log}')
        print(f'-- the packaged antd ran the packaged relays; ant-call: {said.splitlines()[0]}')
    finally:
        subprocess.run([os.path.join(root, 'usr', 'bin', 'antctl'), '--run-dir', run, 'shutdown'],
                       env=env, capture_output=True, timeout=60)
    man = subprocess.run(['man', '--warnings', '-l', os.path.join(root, 'usr', 'share', 'man', 'man8',
                                                                  'antd.8.gz')],
                         capture_output=True, text=True, env=dict(os.environ, MANWIDTH='80'))
    if man.returncode or man.stderr.strip() or 'antd' not in man.stdout:
        raise Fail(f'man antd.8.gz from the package: {man.stderr}')
    print('-- its man page renders')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split('\n\n')[1])
    if os.geteuid() != 0:
        print('skipped: package (./ant package installs its build tools with apt-get: root)')
        return 77
    top = tempfile.mkdtemp(prefix='ant-package-')
    os.chmod(top, 0o755)
    try:
        check(os.path.abspath(sys.argv[1]), top)
    except Fail as e:
        print(f'\nFAILED {e}')
        return 1
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print('\npackage: the .deb holds what meson installs, and its antd and tools work')
    return 0


if __name__ == '__main__':
    sys.exit(main())
