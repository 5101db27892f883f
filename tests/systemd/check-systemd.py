#!/usr/bin/env python3
"""check-systemd.py - antd under a service manager: sd_notify, the journal, the unit file.

usage: check-systemd.py BUILD_ROOT

antd is started as systemd starts it from antd@.service (--foreground), with
$NOTIFY_SOCKET and --log-journal=SOCKET naming datagram sockets of this test
(the protocols are systemd's documented ones: sd_notify(3) and the journal's
native protocol), and checked for:
- READY=1 once every server is ready, with MAINPID (antd's pid) and STATUS;
- no server has NOTIFY_SOCKET in its environment (it could speak for antd);
- journal entries with PRIORITY, SYSLOG_IDENTIFIER=antd, MESSAGE, ANT_EVENT,
  ANT_SERVER and ANT_PID: a server's "ready", and its "server-exit" after a
  SIGKILL (priority 3, the pid that was killed);
- `antctl reexec` (the unit's ExecReload): RELOADING=1, then READY=1 from
  the same pid;
- SIGTERM: STOPPING=1, then antd exits 0;
- a $NOTIFY_SOCKET that is not a path: antd still starts, and says why in its log.
Then the unit file the build made is checked with `systemd-analyze verify`
where systemd-analyze exists (its paths pointed at this build).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 20


class Fail(Exception):
    pass


def dgram(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    return s


def journal_fields(data):
    """One native-protocol entry: KEY=VALUE lines, or KEY\\n<u64 le length>VALUE\\n."""
    out, i = {}, 0
    while i < len(data):
        nl = data.index(b'\n', i)
        line = data[i:nl]
        if b'=' in line:
            k, v = line.split(b'=', 1)
            out[k.decode()] = v.decode()
            i = nl + 1
        else:
            n = int.from_bytes(data[nl + 1:nl + 9], 'little')
            out[line.decode()] = data[nl + 9:nl + 9 + n].decode()
            i = nl + 9 + n + 1
    return out


class Watch:
    def __init__(self, notify, journal):
        self.notify, self.journal = notify, journal
        self.messages, self.entries = [], []

    def drain(self):
        for sock, keep, parse in ((self.notify, self.messages, lambda b: b.decode()),
                                  (self.journal, self.entries, journal_fields)):
            while True:
                try:
                    keep.append(parse(sock.recv(65536)))
                except (socket.timeout, BlockingIOError):
                    break

    def wait(self, what, pred, source):
        end = time.monotonic() + TIMEOUT_S
        while time.monotonic() < end:
            self.drain()
            for m in getattr(self, source):
                if pred(m):
                    return m
        raise Fail(f'no {what} within {TIMEOUT_S} s; {source}: {getattr(self, source)[-8:]}')


def notify_lines(msg):
    return dict(l.split('=', 1) for l in msg.split('\n') if '=' in l)


def antctl(build, run, *args):
    return subprocess.run([os.path.join(build, 'tools', 'antctl'), '--run-dir', run, *args],
                          capture_output=True, text=True, timeout=60)


def check_antd(build, top):
    stack = os.path.join(top, 'stack.json')
    with open(stack, 'w') as f:
        json.dump({'name': 'notified', 'apps': {'calls': ['relay1']}, 'servers': [
            {'name': 'relay1', 'exec': 'relay', 'args': ['echo1'], 'calls': ['echo1']},
            {'name': 'echo1', 'exec': 'echo'}]}, f)
    run = os.path.join(top, 'run')
    w = Watch(dgram(os.path.join(top, 'notify')), dgram(os.path.join(top, 'journal')))
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(top, 'notify'))
    log = open(os.path.join(top, 'antd.out'), 'w')
    antd = subprocess.Popen([os.path.join(build, 'supervisor', 'antd'), '--foreground',
                             '--run-dir', run, f'--log-journal={os.path.join(top, "journal")}',
                             '--server-path', os.path.join(build, 'servers'), stack],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        ready = notify_lines(w.wait('READY=1', lambda m: 'READY=1' in m.split('\n'), 'messages'))
        if ready.get('MAINPID') != str(antd.pid) or 'notified' not in ready.get('STATUS', ''):
            raise Fail(f'READY message without MAINPID={antd.pid} or the stack in STATUS: {ready}')
        print(f'-- READY=1, MAINPID={ready["MAINPID"]}, STATUS={ready["STATUS"]}')

        st = json.loads(antctl(build, run, 'status', '--json').stdout)
        pids = {s['name']: s['pid'] for s in st['servers']}
        for name, pid in pids.items():
            env_of = open(f'/proc/{pid}/environ', 'rb').read().split(b'\0')
            if any(e.startswith(b'NOTIFY_SOCKET=') for e in env_of):
                raise Fail(f'server {name} (pid {pid}) has NOTIFY_SOCKET in its environment')
        print(f'-- no server has NOTIFY_SOCKET ({", ".join(pids)})')

        e = w.wait('a journal entry ready of echo1', lambda e: e.get('ANT_EVENT') == 'ready' and
                   e.get('ANT_SERVER') == 'echo1', 'entries')
        want = {'PRIORITY': '6', 'SYSLOG_IDENTIFIER': 'antd', 'ANT_PID': str(pids['echo1'])}
        if any(e.get(k) != v for k, v in want.items()) or not e.get('MESSAGE'):
            raise Fail(f'journal entry of echo1 ready lacks {want} or MESSAGE: {e}')
        print(f'-- journal: {e}')

        os.kill(pids['echo1'], signal.SIGKILL)
        e = w.wait('a journal entry server-exit of echo1', lambda e: e.get('ANT_EVENT') ==
                   'server-exit' and e.get('ANT_SERVER') == 'echo1', 'entries')
        if e.get('ANT_PID') != str(pids['echo1']) or e.get('PRIORITY') != '3' or \
                'SIGKILL' not in e.get('MESSAGE', ''):
            raise Fail(f'journal entry of the kill: expected ANT_PID={pids["echo1"]}, PRIORITY=3, '
                       f'SIGKILL in MESSAGE: {e}')
        print(f'-- journal after a SIGKILL: {e}')

        seen = len(w.messages)
        r = antctl(build, run, 'reexec')
        if r.returncode:
            raise Fail(f'antctl reexec: {r.stdout}{r.stderr}')
        w.wait('RELOADING=1', lambda m: 'RELOADING=1' in m, 'messages')
        again = w.wait('READY=1 after the re-exec', lambda m: 'READY=1' in m and
                       w.messages.index(m) >= seen, 'messages')
        if notify_lines(again).get('MAINPID') != str(antd.pid):
            raise Fail(f'READY after the re-exec names another pid: {again}')
        print(f'-- reexec: RELOADING=1, then {again!r}')

        antd.send_signal(signal.SIGTERM)
        w.wait('STOPPING=1', lambda m: 'STOPPING=1' in m, 'messages')
        rc = antd.wait(timeout=TIMEOUT_S)
        if rc != 0:
            raise Fail(f'antd exited {rc} after SIGTERM')
        print('-- SIGTERM: STOPPING=1, exit 0')
    finally:
        if antd.poll() is None:
            antd.kill()
            antd.wait()
        log.close()

    # A NOTIFY_SOCKET that is not a path: antd runs and says why.
    bad = subprocess.Popen([os.path.join(build, 'supervisor', 'antd'), '--foreground',
                            '--run-dir', run + '2', '--server-path',
                            os.path.join(build, 'servers'), stack],
                           env=dict(os.environ, NOTIFY_SOCKET='not-a-path'),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + TIMEOUT_S
        while time.monotonic() < end and antctl(build, run + '2', 'ping').returncode:
            time.sleep(0.1)
        if antctl(build, run + '2', 'ping').returncode:
            raise Fail('antd with NOTIFY_SOCKET=not-a-path did not start')
        bad.send_signal(signal.SIGTERM)
        out = bad.communicate(timeout=TIMEOUT_S)[0]
        if 'NOTIFY_SOCKET=not-a-path cannot be used' not in out:
            raise Fail(f'antd did not say why NOTIFY_SOCKET=not-a-path is not used:\n{out}')
        print('-- NOTIFY_SOCKET=not-a-path: antd runs, and says it cannot use it')
    finally:
        if bad.poll() is None:
            bad.kill()
            bad.wait()


def check_unit(build, top):
    analyze = shutil.which('systemd-analyze')
    unit = os.path.join(build, 'supervisor', 'antd@.service')
    text = open(unit).read()
    for key in ('Type=notify', 'ExecStart=', 'ExecReload=', 'KillMode=mixed'):
        if key not in text:
            raise Fail(f'{unit}: no {key}')
    if not analyze:
        print('skipped: systemd-analyze verify (no systemd-analyze on this machine)')
        return
    # The unit as built names the install's paths: point them at this build.
    # (--man=no: the man pages it names are not installed from a build folder.)
    etc = os.path.join(top, 'etc')
    os.makedirs(os.path.join(etc, 'ant'))
    shutil.copy(os.path.join(top, 'stack.json'), os.path.join(etc, 'ant', 'demo.json'))
    lines = []
    for line in text.splitlines():
        if line.startswith(('ExecStart', 'ExecReload', 'ConditionPathExists')):
            key, cmd = line.split('=', 1)
            words = cmd.split()
            words[0] = os.path.join(build, 'supervisor' if words[0].endswith('/antd') else 'tools',
                                    os.path.basename(words[0]))
            words = [os.path.join(etc, 'ant', '%i.json') if w.endswith('/ant/%i.json') else w
                     for w in words]
            line = f'{key}={" ".join(words)}'
        lines.append(line)
    path = os.path.join(top, 'antd@demo.service')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    r = subprocess.run([analyze, 'verify', '--man=no', path], capture_output=True, text=True, timeout=60)
    said = [l for l in (r.stdout + r.stderr).splitlines() if 'antd@demo.service' in l]
    if r.returncode or said:
        raise Fail(f'systemd-analyze verify {path}: exit {r.returncode}\n{r.stdout}{r.stderr}')
    print(f'-- systemd-analyze verify: the unit is fine ({len((r.stdout + r.stderr).splitlines())} '
          'lines about other units)')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split('\n\n')[1])
    build = os.path.abspath(sys.argv[1])
    top = tempfile.mkdtemp(prefix='ant-systemd-')
    os.chmod(top, 0o755)
    try:
        check_antd(build, top)
        check_unit(build, top)
    except Fail as e:
        out = os.path.join(top, 'antd.out')
        if os.path.exists(out):
            print('antd said:\n' + open(out).read())
        print(f'\nFAILED {e}')
        return 1
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print('\nsystemd: sd_notify, the journal and the unit file as they should be')
    return 0


if __name__ == '__main__':
    sys.exit(main())
