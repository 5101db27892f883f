#!/usr/bin/env python3
"""check-campaign.py - ant-campaign on studies/smoke.json: every request classified, the
counts adding up, one row per injection, valid plots, the same schedule from the same
seed, two shards merged into the unsharded schedule, a broken policy that shows, and
malformed studies refused.  Usage: check-campaign.py BUILD_DIR SOURCE_DIR"""

import csv
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import checks
from checks import CLASSES, build, campaign, check, smoke, source


def run(*args, timeout=600):
    p = subprocess.run([campaign] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


tmp = tempfile.mkdtemp(prefix="check-campaign.")
try:
    full = os.path.join(tmp, "full")
    rc, out, err = run("run", smoke, "-o", full, "--quiet")
    if not check(rc == 0, f"the smoke study runs (exit {rc}: {err.strip()[-1500:]})"):
        sys.exit(1)
    with open(os.path.join(full, "report.json")) as f:
        rep = json.load(f)
    rq = rep["requests"]
    check(all(c in rq for c in CLASSES) and rq["total"] == sum(rq[c] for c in CLASSES),
          f"report.json: requests has total and every class, and they add up ({rq})")
    with gzip.open(os.path.join(full, "requests.csv.gz"), "rt") as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == rq["total"] > 100, f"requests.csv.gz has one row per request ({len(rows)} rows)")
    check(all(r["class"] in CLASSES for r in rows), "every request is classified (none pending)")
    for c in CLASSES:
        check(sum(1 for r in rows if r["class"] == c) == rq[c], f"requests.csv.gz agrees on {c}")
    check(len(rep["injections"]) == len(rep["schedule"]) == 24,
          f"every injection of the schedule ran ({len(rep['injections'])} of {len(rep['schedule'])})")
    check(all(k in i for i in rep["injections"] for k in ("fault", "server", "trigger", "outcome")),
          "each injection has fault, server, trigger and outcome")
    check([i["index"] for i in rep["injections"]] == sorted(i["index"] for i in rep["injections"]),
          "injections are in schedule order")
    with open(os.path.join(full, "results.csv")) as f:
        res = list(csv.DictReader(f))
    check(len(res) == len(rep["injections"]), f"results.csv has one row per injection ({len(res)})")
    fired = [i for i in rep["injections"] if "restart_ms" in i]
    check(len(fired) >= len(rep["injections"]) // 2 and all(i["restart_ms"] >= 0 for i in fired),
          f"the injections line up with antd's log (recovery time of {len(fired)})")
    # The plots: valid PNG and SVG.
    if shutil.which("gnuplot"):
        for name in ("recovery-cdf", "outcomes", "latency"):
            with open(os.path.join(full, name + ".png"), "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{name}.png is a PNG")
            with open(os.path.join(full, name + ".svg")) as f:
                svg = f.read()
            check("<svg" in svg and svg.rstrip().endswith("</svg>"), f"{name}.svg is an SVG")
        with open(os.path.join(full, "report.html")) as f:
            page = f.read()
        check(page.count("<svg") == 3 and "<table>" in page, "report.html holds the tables and the 3 SVG plots")
    else:
        check(False, "gnuplot is installed (./ant installs gnuplot-nox): the plots are part of the report")
    # The broken policy shows.
    pp = rep["per_policy"]
    bad = pp["replay-never"]["error"] + pp["replay-never"]["lost"]
    check(pp["default"]["error"] + pp["default"]["lost"] + pp["default"]["duplicated"] + pp["default"]["wrong"] == 0,
          f"the default policy: no error, lost, duplicated or wrong request ({pp['default']})")
    check(bad > 0, f"replay never: requests end in error or lost ({pp['replay-never']})")
    check(pp["default"]["correct_after_replay"] > 0, "the default policy replays requests")
    # The same seed, the same schedule.
    rc1, s1, _ = run("schedule", smoke)
    rc2, s2, _ = run("schedule", smoke)
    check(rc1 == rc2 == 0 and s1 == s2 and json.loads(s1) == rep["schedule"],
          "the same seed gives the same schedule (twice, and as the run had it)")
    rc3, s3, _ = run("schedule", smoke, "--seed", "2")
    check(rc3 == 0 and json.loads(s3) != json.loads(s1), "another seed, another schedule")
    # Two shards, merged: the unsharded schedule, the classes summed.
    shards = []
    for k in (1, 2):
        d = os.path.join(tmp, f"shard{k}")
        rc, out, err = run("run", smoke, "-o", d, "--shard", f"{k}/2", "--quiet", "--no-plots")
        check(rc == 0, f"shard {k}/2 runs ({err.strip()[-500:]})")
        shards.append(d)
    merged = os.path.join(tmp, "merged")
    rc, out, err = run("merge", shards[0], shards[1], "-o", merged, "--no-plots")
    check(rc == 0, f"merge exits 0 ({err.strip()[-500:]})")
    with open(os.path.join(merged, "report.json")) as f:
        mrep = json.load(f)
    check(mrep["schedule"] == rep["schedule"], "two shards merged: the unsharded schedule")
    parts = []
    for d in shards:
        with open(os.path.join(d, "report.json")) as f:
            parts.append(json.load(f))
    check(all(mrep["requests"][c] == sum(p["requests"][c] for p in parts) for c in CLASSES),
          "merged: the classes are the shards' sums")
    check(not set(i["index"] for i in parts[0]["injections"]) & set(i["index"] for i in parts[1]["injections"]),
          "the shards are disjoint")
    rc, out, err = run("merge", shards[0], shards[0], "-o", os.path.join(tmp, "twice"), "--no-plots")
    check(rc == 2 and "overlap" in err, f"a shard merged twice is refused ({err.strip()})")
    rc, out, err = run("compare", full, merged)
    check(rc == 0 and "availability" in out, "compare sets two studies side by side")
    # Interrupted (SIGINT, as Ctrl-C), a partial report; --resume finishes the schedule.
    with open(smoke) as f:
        longer = json.load(f)
    longer["injections"] = 30
    longer["stack"] = os.path.join(source, "studies", "chain-stack.json")
    lp = os.path.join(tmp, "longer.json")
    with open(lp, "w") as f:
        json.dump(longer, f)
    rdir = os.path.join(tmp, "resumed")
    p = subprocess.Popen([campaign, "run", lp, "-o", rdir, "--quiet", "--no-plots"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    check(p.returncode == 130, f"an interrupted run exits 130 ({p.returncode}: {err.strip()[-300:]})")
    with open(os.path.join(rdir, "report.json")) as f:
        part = json.load(f)
    check(part["partial"] and 0 < len(part["injections"]) < len(part["schedule"]) == 60,
          f"it leaves a report marked partial ({len(part['injections'])} of {len(part['schedule'])} injections)")
    rc, out, err = run("run", "--resume", rdir, "--quiet", "--no-plots")
    check(rc == 0, f"--resume goes on ({err.strip()[-300:]})")
    with open(os.path.join(rdir, "report.json")) as f:
        whole = json.load(f)
    check(not whole["partial"] and [i["index"] for i in whole["injections"]] == list(range(60))
          and whole["schedule"] == part["schedule"],
          "resumed: every injection of the same schedule, once")
    check(whole["requests"]["total"] == sum(whole["requests"][c] for c in CLASSES), "resumed: the counts add up")
    rc, out, err = run("run", lp, "-o", rdir, "--quiet")
    check(rc == 2 and "--resume" in err, f"a new run into a run's folder is refused ({err.strip()})")
    # Two parts at once, each with an antd of its own.
    rc, out, err = run("run", smoke, "-o", os.path.join(tmp, "jobs"), "--jobs", "2", "--quiet", "--no-plots")
    with open(os.path.join(tmp, "jobs", "report.json")) as f:
        jrep = json.load(f)
    check(rc == 0 and jrep["schedule"] == rep["schedule"] and len(jrep["injections"]) == 24 and not jrep["partial"],
          f"--jobs 2 runs the same schedule ({err.strip()[-300:]})")
    # The file stack's workload: reads, stats and writes through fs, e2fsck after.
    if os.path.exists(os.path.join(build, "servers", "fs")) and (shutil.which("mkfs.ext4") or os.path.exists("/sbin/mkfs.ext4")):
        fdir = os.path.join(tmp, "files")
        rc, out, err = run("run", os.path.join(source, "studies", "files-smoke.json"), "-o", fdir, "--quiet", "--no-plots")
        check(rc == 0, f"studies/files-smoke.json runs ({err.strip()[-500:]})")
        with open(os.path.join(fdir, "report.json")) as f:
            frep = json.load(f)
        fr = frep["requests"]
        check(fr["total"] > 100 and fr["lost"] == fr["duplicated"] == fr["wrong"] == 0,
              f"files: reads, stats and writes, none lost, duplicated or wrong ({fr})")
        check(frep.get("fsck", {}).get("clean") == frep.get("fsck", {}).get("images", -1) >= 1,
              f"files: e2fsck -fn finds every image clean ({frep.get('fsck')})")
        with gzip.open(os.path.join(fdir, "requests.csv.gz"), "rt") as f:
            ops = {r["op"] for r in csv.DictReader(f)}
        check({"read", "stat", "write", "read-own"} <= ops, f"files: every kind of request was made ({ops})")
        # The sweep: every named failpoint x every fault type.
        sdir = os.path.join(tmp, "sweep")
        rc, out, err = run("run", os.path.join(source, "studies", "files-sweep.json"), "-o", sdir, "--quiet", "--no-plots")
        with open(os.path.join(sdir, "report.json")) as f:
            srep = json.load(f)
        combos = {(i["server"], i["trigger"].get("point"), i["fault"]) for i in srep["injections"]}
        check(rc == 0 and len(srep["injections"]) == 36 and len(combos) == 12,
              f"the sweep: 3 points x 4 fault types, 3 times each ({len(srep['injections'])} injections, {len(combos)} kinds)")
        check(all(i["recovery"] == "restarted" and "t_fire" in i for i in srep["injections"]),
              "the sweep: every point was hit and its server recovered")
        check(srep["requests"]["lost"] == srep["requests"]["wrong"] == srep["requests"]["duplicated"] == 0
              and srep["fsck"]["clean"] == srep["fsck"]["images"], f"the sweep: nothing lost or wrong, e2fsck clean")
        # The same through an ant-fuse mount (as root, with FUSE).
        if os.geteuid() == 0 and os.path.exists("/dev/fuse") and shutil.which("fusermount3") \
                and os.path.exists(os.path.join(build, "tools", "ant-fuse")):
            zdir = os.path.join(tmp, "fuse")
            rc, out, err = run("run", os.path.join(source, "studies", "fuse-smoke.json"), "-o", zdir, "--quiet", "--no-plots")
            with open(os.path.join(zdir, "report.json")) as f:
                zrep = json.load(f)
            zr = zrep["requests"]
            check(rc == 0 and zr["total"] > 20 and zr["lost"] == zr["wrong"] == zr["duplicated"] == 0,
                  f"fuse: reads and fsync'ed writes through ant-fuse, none lost or wrong ({zr}; {err.strip()[-300:]})")
            check(all(i["recovery"] == "restarted" for i in zrep["injections"]),
                  "fuse: every fault went off (writes reach disk) and its server restarted")
            with open("/proc/mounts") as f:
                check(zdir not in f.read(), "fuse: the mount is gone afterwards")
        else:
            print("skipped: campaign fuse (needs root, /dev/fuse, fusermount3 and ant-fuse)")
    else:
        print("skipped: campaign files (this build has no fs server, or mkfs.ext4 is missing)")
    # Malformed studies: refused before anything starts, naming file, key and reason.
    with open(smoke) as f:
        base = json.load(f)
    stack = os.path.join(source, "studies", "chain-stack.json")
    cases = [
        ({"colour": 1}, "unknown key \"colour\""),
        ({"faults": [{"fault": "explode"}]}, "unknown fault \"explode\""),
        ({"faults": [{"fault": "kill", "servers": ["nobody"]}]}, "\"nobody\" is not a server"),
        ({"faults": [{"fault": "kill", "nth_max": 0}]}, "nth_max: 0 is out of range"),
        ({"injections": -3}, "injections: -3 is out of range"),
        ({"stack": "/nonexistent/stack.json"}, "does not load"),
        ({"policies": {"x": {"replay": "never", "replays": 1}}}, "unknown supervision key \"replays\""),
        ({"workload": {"server": "relay9"}}, "workload.server"),
    ]
    for i, (change, says) in enumerate(cases):
        st = dict(base)
        st.update(change)
        if "stack" not in change:
            st["stack"] = stack
        p = os.path.join(tmp, f"bad{i}.json")
        with open(p, "w") as f:
            json.dump(st, f)
        rc, out, err = run("run", p, "-o", os.path.join(tmp, f"badout{i}"), "--quiet")
        check(rc == 2 and p in err and says in err and not os.path.exists(os.path.join(tmp, f"badout{i}")),
              f"a study with {json.dumps(change)} is refused: {err.strip()}")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(f"{'FAILED' if checks.failed else 'passed'}: {checks.failed} failed")
sys.exit(1 if checks.failed else 0)
