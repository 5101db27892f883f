#!/usr/bin/env python3
"""check-completion.py - the bash completion of ant's tools, driven as bash drives it.

usage: check-completion.py SOURCE_ROOT BUILD_ROOT

tools/completion/ant.bash is sourced in `bash --norc` (no bash-completion
package needed), with the build's tools first on PATH and a stack of three
relays running; each case sets COMP_WORDS and COMP_CWORD as bash would for
the command line typed so far, calls the completion function, and compares
COMPREPLY with what must be offered: commands, options (from the programs'
--help), the running stack's server names, fault names, option values.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CASES = [   # (function, words typed, the current word last; what COMPREPLY must be)
    ('_antctl', ['antctl', 'st'], {'status', 'stop', 'start'}),
    ('_antctl', ['antctl', 'me'], {'metrics'}),
    ('_antctl', ['antctl', 'status', '--w'], {'--watch'}),
    ('_antctl', ['antctl', '--run-dir', '@RUN', 'restart', ''], {'relay1', 'relay2', 'relay3'}),
    ('_antctl', ['antctl', '--run-dir', '@RUN', 'inject', 'relay2', 's'],
     {'segv', 'spin', 'sandbox', 'sandbox:'}),
    ('_antctl', ['antctl', '--run-dir', '@RUN', 'inject', 'relay2', 'del'], {'delay:'}),
    ('_antctl', ['antctl', 'log', '--level', 'w'], {'warn'}),
    ('_antctl', ['antctl', 'help', 'rel'], set()),
    ('_antctl', ['antctl', 'help', 're'], {'restart', 'reexec'}),
    ('_ant_call', ['ant-call', '--run-dir', '@RUN', 'relay'], {'relay1', 'relay2', 'relay3'}),
    ('_ant_call', ['ant-call', '--run-dir', '@RUN', 'relay1', ''], set()),
    ('_ant_call', ['ant-call', '--data-'], {'--data-file', '--data-out'}),
    ('_ant_call', ['ant-call', '--return', 'd'], {'direct'}),
    ('_ant_bench', ['ant-bench', ''], {'all', 'chain', 'data', 'failover', 'floors', 'lanes',
                                       'load', 'upgrade'}),
    ('_ant_bench', ['ant-bench', 'failover', '--st'], {'--standby'}),
    ('_ant_fs', ['ant-fs', ''], {'ls', 'cat', 'stat', 'put', 'rm', 'mkdir'}),
    ('_ant_fs', ['ant-fs', '--se'], {'--server'}),
    ('_ant_fuse', ['ant-fuse', '--un'], {'--uncached'}),
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('\n\n')[1])
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    top = tempfile.mkdtemp(prefix='ant-completion-')
    run = os.path.join(top, 'run')
    stack = os.path.join(top, 'chain3.json')
    with open(stack, 'w') as f:
        json.dump({'name': 'chain3', 'apps': {'calls': ['relay1']}, 'servers': [
            {'name': 'relay1', 'exec': 'relay', 'args': ['relay2'], 'calls': ['relay2']},
            {'name': 'relay2', 'exec': 'relay', 'args': ['relay3'], 'calls': ['relay3']},
            {'name': 'relay3', 'exec': 'relay'}]}, f)
    env = dict(os.environ, PATH=os.path.join(build, 'tools') + ':' + os.environ.get('PATH', ''))
    env.pop('ANT_RUN_DIR', None)
    failed = []
    try:
        r = subprocess.run([os.path.join(build, 'supervisor', 'antd'), '--run-dir', run,
                            '--server-path', os.path.join(build, 'servers'), stack],
                           capture_output=True, text=True, timeout=60)
        if r.returncode:
            print(f'FAILED antd: {r.stdout}{r.stderr}')
            return 1
        script = [f'source {os.path.join(src, "tools", "completion", "ant.bash")}']
        for i, (fn, words, _) in enumerate(CASES):
            words = [run if w == '@RUN' else w for w in words]
            quoted = ' '.join("'" + w.replace("'", "'\\''") + "'" for w in words)
            script.append(f'COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; COMPREPLY=(); {fn}; '
                          f'printf "case {i}:%s\\n" "${{COMPREPLY[*]}}"')
        out = subprocess.run(['bash', '--norc', '--noprofile', '-c', '\n'.join(script)], env=env,
                             capture_output=True, text=True, timeout=120)
        got = {}
        for line in out.stdout.splitlines():
            if line.startswith('case ') and ':' in line:
                k, v = line[5:].split(':', 1)
                got[int(k)] = set(v.split())
        for i, (fn, words, want) in enumerate(CASES):
            shown = ' '.join(words) + '<TAB>'
            if got.get(i) != want:
                failed.append(f'{shown}: offered {sorted(got.get(i, {"(nothing ran)"}))}, '
                              f'expected {sorted(want)}')
            else:
                print(f'-- {shown}: {" ".join(sorted(want)) or "(nothing)"}')
        if out.stderr.strip():
            failed.append(f'bash said on stderr:\n{out.stderr}')
    finally:
        subprocess.run([os.path.join(build, 'tools', 'antctl'), '--run-dir', run, 'shutdown'],
                       capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)
    if failed:
        print('\nFAILED\n' + '\n'.join(failed))
        return 1
    print(f'\ncompletion: {len(CASES)} command lines completed as they should')
    return 0


if __name__ == '__main__':
    sys.exit(main())
