"""checks.py - what the campaign test scripts share: where things are, the classes, and
one check() that prints ok:/FAIL: and counts the failures (checks.failed)."""

import os
import sys

build, source = sys.argv[1], sys.argv[2]
campaign = os.path.join(build, "tools", "ant-campaign")
smoke = os.path.join(source, "studies", "smoke.json")
CLASSES = ["correct", "correct_after_replay", "error", "lost", "duplicated", "wrong"]
failed = 0


def check(ok, what):
    global failed
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failed += 1
    return ok
