#!/usr/bin/env python3
"""check-conformance.py - the POSIX categories ant-fuse passes stay passing (a quick pjdfstest run).

usage: check-conformance.py SOURCE_ROOT BUILD_ROOT

Runs tests/conformance/pjdfstest.sh on the ant mount only, for the
categories in tests/conformance/expected.json, and fails if a category
passes fewer subtests than that file says it did when it was last measured
(the full run, three mounts side by side, is `./ant conformance`), or if the
image is not e2fsck-clean afterwards.  Needs root, /dev/fuse, fuse2fs's
mkfs tools and pjdfstest's sources ($ANT_PJDFSTEST, else
../shared/conformance/pjdfstest next to the tree); without them it says which
is missing and is skipped.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split('\n\n')[1])
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    # $ANT_PJDFSTEST, else ../shared/conformance/pjdfstest beside the tree.
    suite = os.environ.get('ANT_PJDFSTEST') or os.path.join(os.path.dirname(src), 'shared',
                                                            'conformance', 'pjdfstest')
    missing = []
    if os.geteuid() != 0:
        missing.append('root')
    if not os.access('/dev/fuse', os.W_OK):
        missing.append('/dev/fuse')
    if not os.path.exists(os.path.join(suite, 'pjdfstest.c')):
        missing.append(f'pjdfstest sources in {suite}')
    for tool in ('prove', 'autoreconf', 'mkfs.ext4', 'e2fsck'):
        if not shutil.which(tool):
            missing.append(tool)
    if missing:
        print(f'skipped: conformance (needs {", ".join(missing)})')
        return 77
    expected = json.load(open(os.path.join(src, 'tests', 'conformance', 'expected.json')))
    cats = sorted(expected['ant'])
    top = tempfile.mkdtemp(prefix='ant-conformance-')
    try:
        out = os.path.join(top, 'figures.json')
        r = subprocess.run(['bash', os.path.join(src, 'tests', 'conformance', 'pjdfstest.sh'),
                            '--build', build, '--suite', suite, '--mounts', 'ant', '--only',
                            ','.join(cats), '--json', out], capture_output=True, text=True,
                           timeout=1500)
        print(r.stdout[-3000:])
        if not os.path.exists(out):
            print(f'FAILED pjdfstest.sh wrote no figures (exit {r.returncode}):\n{r.stderr[-2000:]}')
            return 1
        got = json.load(open(out))['mounts']['ant']
        failed = []
        for c in cats:
            p, t = got['categories'][c]
            want = expected['ant'][c]
            if p < want:
                failed.append(f'{c}: {p} of {t} subtests pass, {want} did before')
        if got['fsck'] != 'clean':
            failed.append(f'the image after the run: e2fsck -fn {got["fsck"]}')
        if failed:
            print('FAILED\n' + '\n'.join(failed))
            return 1
        print(f'conformance: {got["passed"]} of {got["total"]} subtests in {len(cats)} categories, '
              'none fewer than before; the image e2fsck-clean')
        return 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
