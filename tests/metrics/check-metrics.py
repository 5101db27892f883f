#!/usr/bin/env python3
"""check-metrics.py - `antctl metrics` read by a strict parser, and checked against antctl status --json.

usage: check-metrics.py BUILD_ROOT

A stack (app -> relay1 -> echo1) gets a known workload: 5 calls of op echo,
2 of an op nobody serves, with a quote and a backslash in its name
(ANT_E_NO_OP from echo1), one echo through a crash of
echo1 (an injected segv: one restart, one replay).  Then:
- the output of `antctl metrics` must parse under the rules of the Prometheus
  text exposition format 0.0.4, checked strictly here (no client library is
  assumed): HELP and TYPE once per family and before its samples, a family's
  samples together, names and label names as the format allows, label
  values escaped, values that are floats, no series twice, histograms with
  cumulative buckets in order of le, a +Inf bucket equal to _count, and _sum;
  counters not negative; a newline at the end;
- each server's counters must equal what `antctl status --json` says, and the
  workload's numbers: echo1 answered echo 6 times and the unknown op twice,
  ANT_E_NO_OP twice, 1 restart, 1 replay; the histogram's count equals the
  service-time samples antd took for the server.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*\Z')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*\Z')
# An op nobody serves, with the bytes a label value must escape.
ODD_OP = 'wh"is\\per'
TYPES = {'counter', 'gauge', 'histogram', 'summary', 'untyped'}


class Bad(Exception):
    pass


def parse_labels(text, no):
    """{name="value",...} (the braces stripped) -> dict, escapes undone."""
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r'([^=]*)="', text[i:])
        if not m or not LABEL.match(m.group(1)):
            raise Bad(f'line {no}: bad label name at "{text[i:]}"')
        name, i, val = m.group(1), i + m.end(), ''
        while True:
            if i >= len(text):
                raise Bad(f'line {no}: label {name}: value never ends')
            c = text[i]
            if c == '\\':
                nxt = text[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    raise Bad(f'line {no}: label {name}: bad escape \\{nxt}')
                val += '\n' if nxt == 'n' else nxt
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                raise Bad(f'line {no}: label {name}: raw newline')
            else:
                val += c
                i += 1
        if name in labels:
            raise Bad(f'line {no}: label {name} twice')
        labels[name] = val
        if i < len(text):
            if text[i] != ',':
                raise Bad(f'line {no}: expected "," after label {name}')
            i += 1
    return labels


def parse_value(s, no):
    if s in ('+Inf', '-Inf', 'NaN'):
        return float(s.replace('Inf', 'inf').replace('NaN', 'nan'))
    if not re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', s):
        raise Bad(f'line {no}: value "{s}" is not a float')
    return float(s)


def family_of(name, types):
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix) and types.get(name[:-len(suffix)]) in ('histogram', 'summary'):
            return name[:-len(suffix)]
    return name


def parse(text):
    """-> {family: {'type', 'help', 'samples': [(name, labels, value)]}}"""
    if not text.endswith('\n'):
        raise Bad('the output does not end with a newline')
    fams, types, done, current, series = {}, {}, set(), None, set()
    for no, line in enumerate(text.split('\n')[:-1], 1):
        if not line:
            raise Bad(f'line {no}: empty line')
        if line.startswith('#'):
            m = re.fullmatch(r'# (HELP|TYPE) (\S+) (.*)', line)
            if not m:
                continue   # a plain comment
            kind, name, rest = m.groups()
            if not NAME.match(name):
                raise Bad(f'line {no}: bad metric name {name}')
            f = fams.setdefault(name, {'type': None, 'help': None, 'samples': []})
            if name in done:
                raise Bad(f'line {no}: {kind} of {name} after other families followed it')
            if kind == 'TYPE':
                if rest not in TYPES:
                    raise Bad(f'line {no}: unknown type {rest}')
                if f['type'] or f['samples']:
                    raise Bad(f'line {no}: TYPE of {name} twice or after its samples')
                f['type'] = types[name] = rest
            else:
                if f['help'] is not None:
                    raise Bad(f'line {no}: HELP of {name} twice')
                f['help'] = rest
            if current and current != name:
                done.add(current)
            current = name
            continue
        m = re.fullmatch(r'([^{\s]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?', line)
        if not m:
            raise Bad(f'line {no}: not a sample: {line}')
        name, labels, value = m.group(1), parse_labels(m.group(2) or '', no), parse_value(m.group(3), no)
        if not NAME.match(name):
            raise Bad(f'line {no}: bad metric name {name}')
        fam = family_of(name, types)
        if fam in done:
            raise Bad(f'line {no}: {name} after its family ended (samples not together)')
        if current and current != fam:
            done.add(current)
        current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise Bad(f'line {no}: the series {name}{labels} twice')
        series.add(key)
        f = fams.setdefault(fam, {'type': None, 'help': None, 'samples': []})
        if f['type'] == 'counter' and (value < 0 or math.isnan(value)):
            raise Bad(f'line {no}: counter {name} is {value}')
        f['samples'].append((name, labels, value))
    for fam, f in fams.items():
        if f['type'] is None or f['help'] is None:
            raise Bad(f'{fam}: no TYPE or no HELP')
        if f['type'] == 'histogram':
            check_histogram(fam, f['samples'])
    return fams


def check_histogram(fam, samples):
    groups = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
        g = groups.setdefault(rest, {'buckets': [], 'sum': None, 'count': None})
        if name == fam + '_bucket':
            if 'le' not in labels:
                raise Bad(f'{fam}{dict(rest)}: a bucket without le')
            g['buckets'].append((float(labels['le'].replace('Inf', 'inf')), value))
        elif name == fam + '_sum':
            g['sum'] = value
        elif name == fam + '_count':
            g['count'] = value
        else:
            raise Bad(f'{fam}: sample {name} does not belong to a histogram')
    for rest, g in groups.items():
        b = g['buckets']
        if not b or b[-1][0] != math.inf:
            raise Bad(f'{fam}{dict(rest)}: no +Inf bucket last')
        if any(b[i][0] >= b[i + 1][0] for i in range(len(b) - 1)):
            raise Bad(f'{fam}{dict(rest)}: le not in increasing order')
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise Bad(f'{fam}{dict(rest)}: buckets not cumulative')
        if g['count'] is None or g['sum'] is None or b[-1][1] != g['count']:
            raise Bad(f'{fam}{dict(rest)}: _count missing or not the +Inf bucket')


def run(build, run_dir, *args, ok=True):
    r = subprocess.run([os.path.join(build, 'tools', args[0]), '--run-dir', run_dir, *args[1:]],
                       capture_output=True, text=True, timeout=60)
    if ok and r.returncode:
        raise Bad(f'{" ".join(args)}: exit {r.returncode}: {r.stdout}{r.stderr}')
    return r


def value(fams, fam, **labels):
    got = [v for n, l, v in fams[fam]['samples'] if n == fam and all(l.get(k) == x for k, x in labels.items())]
    if len(got) != 1:
        raise Bad(f'{fam}{labels}: {len(got)} samples, expected 1')
    return got[0]


def check(build, top):
    stack = os.path.join(top, 'stack.json')
    with open(stack, 'w') as f:
        json.dump({'name': 'metered',
                   'apps': {'calls': ['relay1']}, 'servers': [
                       {'name': 'relay1', 'exec': 'relay', 'args': ['echo1'], 'calls': ['echo1']},
                       {'name': 'echo1', 'exec': 'echo'}]}, f)
    rd = os.path.join(top, 'run')
    r = subprocess.run([os.path.join(build, 'supervisor', 'antd'), '--run-dir', rd, '--server-path',
                        os.path.join(build, 'servers'), stack], capture_output=True, text=True,
                       timeout=60)
    if r.returncode:
        raise Bad(f'antd: {r.stdout}{r.stderr}')
    for _ in range(5):
        run(build, rd, 'ant-call', 'relay1', 'echo', 'hi')
    for _ in range(2):
        run(build, rd, 'ant-call', 'relay1', ODD_OP, ok=False)
    run(build, rd, 'antctl', 'inject', 'echo1', 'segv', '--op', 'echo')
    run(build, rd, 'ant-call', 'relay1', 'echo', 'through a crash')
    run(build, rd, 'antctl', 'wait-ready')

    text = run(build, rd, 'antctl', 'metrics').stdout
    st = json.loads(run(build, rd, 'antctl', '--json', 'status').stdout)
    fams = parse(text)
    print(f'-- antctl metrics: {len(text.splitlines())} lines, {len(fams)} families, parsed strictly')

    stack_name = st['stack']
    for s in st['servers']:
        srv = dict(stack=stack_name, server=s['name'])
        m = s['metrics']
        pairs = [('ant_server_answered_total', s['served']), ('ant_server_restarts_total', s['restarts']),
                 ('ant_server_replays_total', s['replays']), ('ant_server_failovers_total', s['failovers']),
                 ('ant_server_failed_calls_total', s['failed']),
                 ('ant_server_lane_answered_total', s['lane_served']),
                 ('ant_server_sandbox_violations_total', s['sandbox']['violations']),
                 ('ant_server_calls_in_flight', s['inflight']), ('ant_server_calls_queued', s['queued']),
                 ('ant_server_up', 1 if s['state'] == 'running' else 0),
                 ('ant_server_service_seconds_count', m['service_us']['count'])]
        for op, o in m['ops'].items():
            pairs.append((('ant_server_calls_total', {'op': op}), o['answered']))
        for code, n in m['error_codes'].items():
            pairs.append((('ant_server_call_errors_total', {'code': code}), n))
        for fam, want in pairs:
            extra = {}
            if isinstance(fam, tuple):
                fam, extra = fam
            base = 'ant_server_service_seconds' if fam.endswith('_count') else fam
            got = [v for n, l, v in fams[base]['samples'] if n == fam and
                   all(l.get(k) == x for k, x in dict(srv, **extra).items())]
            if got != [want]:
                raise Bad(f'{fam}{dict(srv, **extra)}: metrics say {got}, status --json says {want}')
        if sum(m['service_us']['counts']) != m['service_us']['count']:
            raise Bad(f'{s["name"]}: the histogram counts do not add up to its count')
    for fam, key in (('ant_calls_total', ('calls', 'total')), ('ant_icas', ('icas', 'live')),
                     ('ant_ica_bytes', ('icas', 'live_bytes'))):
        if value(fams, fam, stack=stack_name) != st[key[0]][key[1]]:
            raise Bad(f'{fam}: {value(fams, fam, stack=stack_name)} against status {st[key[0]][key[1]]}')
    print('-- every counter of every server equals antctl status --json')

    e = dict(stack=stack_name, server='echo1')
    known = [('ant_server_calls_total', dict(e, op='echo'), 6),
             ('ant_server_calls_total', dict(e, op=ODD_OP), 2),
             ('ant_server_call_errors_total', dict(e, code='ANT_E_NO_OP'), 2),
             ('ant_server_restarts_total', e, 1), ('ant_server_replays_total', e, 1),
             ('ant_server_answered_total', e, 8),
             ('ant_server_calls_total', dict(stack=stack_name, server='relay1', op='echo'), 6)]
    for fam, labels, want in known:
        if value(fams, fam, **labels) != want:
            raise Bad(f'{fam}{labels}: {value(fams, fam, **labels)}, the workload makes it {want}')
    print(f'-- the workload\'s numbers: 6 echo, 2 {ODD_OP}, 2 ANT_E_NO_OP, 1 restart, 1 replay on echo1')

    # The parser rejects what it should (it is not a parser that takes anything).
    for broken, why in ((text.replace('# TYPE ant_calls_total counter\n', '', 1), 'no TYPE'),
                        (text + 'ant_calls_total{stack="x"} 1\n', 'samples not together'),
                        (text.rstrip('\n'), 'no final newline'),
                        (text.replace('le="+Inf"', 'le="+Inf",le="1"', 1), 'a label twice'),
                        (text.replace('} 0\n', '} zero\n', 1), 'not a float')):
        try:
            parse(broken)
        except Bad:
            continue
        raise Bad(f'the strict parser took an output with {why}')
    print('-- the parser refuses 5 broken variants of the output')
    run(build, rd, 'antctl', 'shutdown')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split('\n\n')[1])
    build = os.path.abspath(sys.argv[1])
    top = tempfile.mkdtemp(prefix='ant-metrics-')
    try:
        check(build, top)
    except Bad as e:
        print(f'\nFAILED {e}')
        return 1
    finally:
        pidf = os.path.join(top, 'run', 'antd.pid')
        if os.path.exists(pidf):
            subprocess.run([os.path.join(build, 'tools', 'antctl'), '--run-dir',
                            os.path.join(top, 'run'), 'shutdown'], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
    print('\nmetrics: the Prometheus text format, and the same counters as antctl status')
    return 0


if __name__ == '__main__':
    sys.exit(main())
