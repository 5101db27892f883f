#!/usr/bin/env python3
"""ant-campaign-slurm - a study's shards as a Slurm job array, then one merged report.

`ant-campaign slurm STUDY.json --shards N -o DIR` checks the study (ant-campaign
schedule), writes DIR/slurm/job.sh, submits it with `sbatch --array=1-N` (task K
runs `ant-campaign run STUDY --shard K/N -o DIR/shards/K`), waits until squeue no
longer lists the job, checks every shard (its exit status and report), and runs
`ant-campaign merge DIR/shards/1 .. DIR/shards/N -o DIR`.  DIR must be on a file
system every node sees, and ant-campaign at the same path on every node.  Slurm's
own settings come from where sbatch finds them (SLURM_CONF, /etc/slurm).
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

PROG = "ant-campaign slurm"
HERE = os.path.dirname(os.path.realpath(__file__))
TAIL_LINES = 20


def die(msg, code=1):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)


def say(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def find_campaign():
    """ant-campaign next to this program (the build folder, the installed bindir), else in $PATH."""
    c = os.path.join(HERE, "ant-campaign")
    if os.path.isfile(c) and os.access(c, os.X_OK):
        return os.path.abspath(c)
    p = shutil.which("ant-campaign")
    if p:
        return os.path.abspath(p)
    die("cannot find ant-campaign (looked next to ant-campaign-slurm and in $PATH)")


def slurm_tool(name):
    p = shutil.which(name)
    if not p:
        die(f"{name} not found: is Slurm installed? (Debian: apt-get install slurm-client)")
    return p


def tail(path, lines=TAIL_LINES):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return None


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def job_script(campaign, study, n, out, seed):
    q = shlex.quote
    run = [campaign, "run", study, "--shard", f"$k/{n}", "-o", f"{out}/shards/$k", "--quiet", "--no-plots"]
    if seed is not None:
        run += ["--seed", str(seed)]
    # $k must stay a shell variable: quote every word but the "$k" parts.
    words = []
    for w in run:
        if "$k" in w:
            a, b = w.split("$k", 1)
            words.append((q(a) if a else "") + '"$k"' + (q(b) if b else ""))
        else:
            words.append(q(w))
    return "\n".join([
        "#!/bin/sh",
        f"# Written by ant-campaign-slurm: task K of the array runs shard K/{n} of",
        f"# {study}",
        "k=${SLURM_ARRAY_TASK_ID:?not run as a task of a Slurm job array}",
        f'echo "shard $k/{n} on $(hostname) since $(date -u +%Y-%m-%dT%H:%M:%SZ)"',
        " ".join(words),
        "rc=$?",
        f'echo "$rc" > {q(out + "/slurm/")}"$k".rc',
        f'echo "shard $k/{n} ended with exit status $rc at $(date -u +%Y-%m-%dT%H:%M:%SZ)"',
        "exit $rc",
        "",
    ])


def shard_state(out, k):
    """(done, why, missing): a shard is done when its task wrote exit status 0 and a whole
    report; missing says a file is not (yet) there."""
    rc = read_text(os.path.join(out, "slurm", f"{k}.rc"))
    rep = os.path.join(out, "shards", str(k), "report.json")
    if rc is None:
        return False, "it left no exit status (it did not run to its end: cancelled, timed out or its node failed?)", True
    if rc != "0":
        return False, f"ant-campaign run exited with status {rc}", False
    try:
        with open(rep, encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        return False, f"no report ({rep}: {e})", True
    if r.get("partial"):
        return False, f"its report is partial ({rep})", False
    return True, "", False


def queued(squeue, job):
    """The job's array tasks still known to squeue, as {task: state}; None if squeue failed."""
    p = subprocess.run([squeue, "-h", "-r", "-j", job, "-o", "%K %T"], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        # A job that ended long enough ago is purged: squeue then refuses its id.
        if "Invalid job id" in p.stderr:
            return {}
        return None
    tasks = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) == 2:
            tasks[f[0]] = f[1]
    return tasks


def wait_for(job, n, out, squeue, scancel):
    interrupted = {"now": False}

    def on_int(sig, frm):
        interrupted["now"] = True
    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_int)
    t0 = time.time()
    last, failures, step = None, 0, 1.0
    while True:
        if interrupted["now"]:
            say(f"interrupted: cancelling job {job} (scancel {job})")
            subprocess.run([scancel, job], check=False)
            sys.exit(130)
        tasks = queued(squeue, job)
        if tasks is None:
            failures += 1
            if failures >= 30:
                die(f"squeue -j {job} keeps failing; the job may still run (squeue -j {job}, scancel {job})")
        else:
            failures = 0
            done = sum(1 for k in range(1, n + 1) if os.path.exists(os.path.join(out, "slurm", f"{k}.rc")))
            running = sum(1 for s in tasks.values() if s in ("RUNNING", "COMPLETING"))
            pending = sum(1 for s in tasks.values() if s == "PENDING")
            line = f"job {job}: {done}/{n} shards ended, {running} running, {pending} pending"
            if line != last:
                say(f"{line} ({int(time.time() - t0)} s)")
                last = line
            if not tasks:
                return
        end = time.time() + step
        while time.time() < end and not interrupted["now"]:
            time.sleep(0.2)
        step = min(step * 1.25, 10.0)


def main(argv):
    p = argparse.ArgumentParser(
        prog=PROG, description="Run a study's shards as a Slurm job array (sbatch --array), then merge them.",
        epilog="DIR must be on a file system every node sees, and ant-campaign at the same path on every node. "
               "DIR/shards and DIR/slurm are replaced. Extra sbatch options go one per --sbatch-arg, "
               "written with '=': --sbatch-arg=--mem=2G.")
    p.add_argument("study", help="the study file (JSON)")
    p.add_argument("--shards", type=int, required=True, metavar="N", help="how many array tasks (shards)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="the merged report's folder (shared)")
    p.add_argument("--seed", type=int, help="the schedule's seed (default: the study's, else 1)")
    p.add_argument("--partition", metavar="P", help="the Slurm partition (default: the cluster's default)")
    p.add_argument("--time", type=int, metavar="MIN", help="each task's time limit in minutes")
    p.add_argument("--no-wait", action="store_true", help="submit, print the job id and the merge command, exit")
    p.add_argument("--no-plots", action="store_true", help="no gnuplot plots in the merged report")
    p.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG",
                   help="one more option for sbatch (repeatable)")
    a = p.parse_args(argv)
    if a.shards < 1:
        die(f"--shards: expected a number of shards of at least 1, got {a.shards}", 2)
    if a.time is not None and a.time < 1:
        die(f"--time: expected minutes, at least 1, got {a.time}", 2)
    if not os.path.isfile(a.study):
        die(f"{a.study}: no such study file", 2)
    campaign = find_campaign()
    study = os.path.abspath(a.study)
    out = os.path.abspath(a.out)

    # The study, checked by ant-campaign itself before anything is submitted.
    sched_cmd = [campaign, "schedule", study] + (["--seed", str(a.seed)] if a.seed is not None else [])
    chk = subprocess.run(sched_cmd, capture_output=True, text=True, check=False)
    if chk.returncode != 0:
        sys.stderr.write(chk.stderr if chk.stderr.strip() else f"{PROG}: ant-campaign schedule failed (exit {chk.returncode})\n")
        sys.exit(2)
    try:
        sched = json.loads(chk.stdout)
        injections = len({e["injection"] for e in sched})
    except (ValueError, KeyError, TypeError) as e:
        die(f"ant-campaign schedule gave no schedule ({e})")
    if a.shards > injections:
        die(f"--shards: {a.shards} shards for {injections} injections: at most {injections}", 2)
    try:
        with open(study, encoding="utf-8") as f:
            name = str(json.load(f).get("name", "study"))
    except (OSError, ValueError):
        name = "study"

    sbatch = slurm_tool("sbatch")
    squeue = slurm_tool("squeue")
    scancel = slurm_tool("scancel")

    # The job script, and no results of an earlier run that could pass for this one's.
    sdir = os.path.join(out, "slurm")
    try:
        for d in (sdir, os.path.join(out, "shards")):
            if os.path.isdir(d):
                shutil.rmtree(d)
        os.makedirs(sdir)
        os.makedirs(os.path.join(out, "shards"))
        script = os.path.join(sdir, "job.sh")
        with open(script, "w", encoding="utf-8") as f:
            f.write(job_script(campaign, study, a.shards, out, a.seed))
        os.chmod(script, 0o755)
    except OSError as e:
        die(f"{out}: cannot write the job script ({e.strerror}: {e.filename})")

    args = [sbatch, "--parsable", f"--array=1-{a.shards}", f"--job-name=ant-campaign-{name}",
            "--output", os.path.join(sdir, "%a.out"), "--chdir", out]
    if a.partition:
        args.append(f"--partition={a.partition}")
    if a.time:
        args.append(f"--time={a.time}")
    args += a.sbatch_arg + [script]
    sub = subprocess.run(args, capture_output=True, text=True, check=False)
    if sub.returncode != 0:
        hint = ""
        if "configuration" in sub.stderr and not os.environ.get("SLURM_CONF"):
            hint = "\n  (no Slurm configuration found: is this a cluster's node? SLURM_CONF names one)"
        die(f"sbatch refused the job (exit {sub.returncode}): {sub.stderr.strip() or sub.stdout.strip()}\n"
            f"  the command: {' '.join(shlex.quote(x) for x in args)}{hint}")
    job = sub.stdout.strip().split(";")[0]
    if not job.isdigit():
        die(f"sbatch gave no job id: {sub.stdout.strip()!r} {sub.stderr.strip()}")
    with open(os.path.join(sdir, "job-id"), "w", encoding="utf-8") as f:
        f.write(job + "\n")
    merge_cmd = [campaign, "merge"] + [os.path.join(out, "shards", str(k)) for k in range(1, a.shards + 1)] + ["-o", out]
    say(f"submitted job {job}: {a.shards} tasks, study {name}, {len(sched)} injections in all "
        f"(task output in {sdir}/K.out)")
    if a.no_wait:
        print(job)
        say(f"watch it with: squeue -j {job}")
        say(f"when it is done, merge with: {' '.join(shlex.quote(x) for x in merge_cmd)}")
        return 0

    wait_for(job, a.shards, out, squeue, scancel)

    # Success is judged from the files the tasks wrote (a cluster without
    # accounting has no sacct); a shared file system may show them late.
    end = time.time() + 30
    while True:
        states = {k: shard_state(out, k) for k in range(1, a.shards + 1)}
        bad = {k: why for k, (ok, why, _) in states.items() if not ok}
        if not any(missing for ok, why, missing in states.values()) or time.time() > end:
            break
        time.sleep(2)
    if bad:
        for k, why in bad.items():
            say(f"task {k} (shard {k}/{a.shards}) of job {job} failed: {why}")
            t = tail(os.path.join(sdir, f"{k}.out"))
            if t is None:
                say(f"  it left no output ({sdir}/{k}.out)")
            else:
                say(f"  the end of {sdir}/{k}.out:\n" + "\n".join("    " + x for x in t.splitlines()))
        die(f"{len(bad)} of {a.shards} shards failed: nothing merged")

    m = subprocess.run(merge_cmd + (["--no-plots"] if a.no_plots else []), capture_output=True, text=True, check=False)
    if m.returncode != 0:
        die(f"ant-campaign merge failed (exit {m.returncode}): {m.stderr.strip() or m.stdout.strip()}")
    if m.stderr.strip():
        sys.stderr.write(m.stderr)
    sys.stdout.write(m.stdout)
    print(f"{out}/report.json: the merged report of job {job} ({a.shards} shards); report.md, report.html beside it")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
