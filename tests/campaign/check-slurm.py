#!/usr/bin/env python3
"""check-slurm.py - ant-campaign slurm on a one-node Slurm cluster of its own: munged,
slurmctld and slurmd started here with a private key, config, ports and state folder,
the smoke study run as a 2-task job array and merged, the merged report checked against
an unsharded schedule, and every daemon stopped afterwards.  Skipped (exit 77, with the
reason) where Slurm cannot start: not root, Slurm or MUNGE not installed, or the cluster
not coming up.  Usage: check-slurm.py BUILD_DIR SOURCE_DIR"""

import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import checks
from checks import CLASSES, build, campaign, check, smoke, source
DAEMONS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel", "setpriv"]


def skip(why):
    print(f"skipped: slurm ({why})")
    sys.exit(77)


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).rstrip()
    except OSError:
        return "(none)"


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


if os.geteuid() != 0:
    skip("needs root to run slurmctld and slurmd")
missing = [d for d in DAEMONS if not shutil.which(d) and not os.path.exists(f"/usr/sbin/{d}")]
if missing:
    skip(f"{', '.join(missing)} not found: apt-get install slurm-wlm munge")
try:
    munge_user = pwd.getpwnam("munge")
except KeyError:
    skip("no user munge (the munge package makes it)")


def tool(name):
    return shutil.which(name) or f"/usr/sbin/{name}"


# The daemons fork into the background: be their reaper, so that none ends a zombie.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER


def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


tmp = tempfile.mkdtemp(prefix="check-slurm.")
os.chmod(tmp, 0o755)   # munged (user munge) must reach its folder inside
mdir = os.path.join(tmp, "munge")
conf = os.path.join(tmp, "slurm.conf")
# Every process of this test's cluster carries this in its environment (slurmstepd and
# the jobs inherit it), so that none can be left behind unnoticed.
marker = f"ANT_CHECK_SLURM={tmp}"
env = dict(os.environ, SLURM_CONF=conf, ANT_CHECK_SLURM=tmp)
started = []   # pid files of the daemons started


def ours():
    """The processes of this test's cluster (by the marker in their environment)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if marker.encode() + b"\0" in f.read():
                    pids.append(int(d))
        except OSError:
            pass
    return pids


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def stop_cluster():
    if os.path.exists(conf):
        subprocess.run([tool("scancel"), "--user", "root"], env=env, capture_output=True, timeout=30, check=False)
    pids = []
    for pf in reversed(started):   # slurmd, slurmctld, then munged
        try:
            with open(pf) as f:
                pids.append(int(f.read().split()[0]))
        except (OSError, ValueError, IndexError):
            pass
    for pid in pids + ours():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.time() + 15
    while time.time() < end and not all(gone(p) for p in pids + ours()):
        time.sleep(0.1)
    for pid in pids + ours():
        if not gone(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    end = time.time() + 5
    while time.time() < end and not all(gone(p) for p in pids + ours()):
        time.sleep(0.1)
    reap()


def start_cluster():
    host = socket.gethostname().split(".")[0]
    # MUNGE: a daemon of its own (key, socket, pid, log and seed files in mdir), as user munge.
    os.makedirs(mdir)
    os.chmod(mdir, 0o755)   # munged wants its socket's folder open to all (for clients), closed to writes
    key = os.path.join(mdir, "munge.key")
    r = subprocess.run([tool("mungekey"), "--create", "--keyfile", key], capture_output=True, text=True, check=False) \
        if shutil.which("mungekey") else None
    if r is None or r.returncode != 0:
        with open("/dev/urandom", "rb") as src, open(key, "wb") as dst:
            dst.write(src.read(1024))
    os.chmod(key, 0o600)
    for p in (mdir, key):
        os.chown(p, munge_user.pw_uid, munge_user.pw_gid)
    sock = os.path.join(mdir, "munge.socket")
    mpid = os.path.join(mdir, "munged.pid")
    started.append(mpid)
    r = subprocess.run([tool("setpriv"), f"--reuid={munge_user.pw_uid}", f"--regid={munge_user.pw_gid}",
                        "--clear-groups", tool("munged"), "--socket", sock, "--key-file", key,
                        "--pid-file", mpid, "--log-file", os.path.join(mdir, "munged.log"),
                        "--seed-file", os.path.join(mdir, "munged.seed")],
                       env=env, capture_output=True, text=True, timeout=30, check=False)
    if r.returncode != 0:
        return f"munged did not start: {r.stderr.strip()} {tail(os.path.join(mdir, 'munged.log'))}"
    # Slurm: its own config, ports, state, spool, pid and log files.
    ctld_port, d_port = free_ports(2)
    for d in ("state", "spool"):
        os.makedirs(os.path.join(tmp, d), mode=0o755)
    with open(conf, "w") as f:
        f.write(f"""# check-slurm.py: a one-node cluster of its own
ClusterName=antcheck
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={tmp}/state
SlurmdSpoolDir={tmp}/spool
SlurmctldPidFile={tmp}/slurmctld.pid
SlurmdPidFile={tmp}/slurmd.pid
SlurmctldLogFile={tmp}/slurmctld.log
SlurmdLogFile={tmp}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN
PartitionName=check Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    for name, pid in (("slurmctld", "slurmctld.pid"), ("slurmd", "slurmd.pid")):
        started.append(os.path.join(tmp, pid))
        r = subprocess.run([tool(name), "-f", conf], env=env, capture_output=True, text=True, timeout=60, check=False)
        if r.returncode != 0:
            return f"{name} did not start: {r.stderr.strip()} {tail(os.path.join(tmp, name + '.log'))}"
    end = time.time() + 60
    state = ""
    while time.time() < end:
        r = subprocess.run([tool("sinfo"), "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True,
                           timeout=30, check=False)
        state = (r.stdout.strip() or r.stderr.strip())
        if r.returncode == 0 and state == "idle":
            return None
        time.sleep(0.5)
    return (f"the node is not idle after 60 s (sinfo: {state}); slurmctld.log: {tail(os.path.join(tmp, 'slurmctld.log'))}"
            f" slurmd.log: {tail(os.path.join(tmp, 'slurmd.log'))}")


t_start = time.time()
why_skip = None
try:
    why = start_cluster()
    if why:
        why_skip = why
    else:
        print(f"ok: a one-node Slurm cluster of its own is up ({time.time() - t_start:.1f} s)")
        out = os.path.join(tmp, "out")
        t0 = time.time()
        p = subprocess.run([campaign, "slurm", smoke, "--shards", "2", "-o", out, "--no-plots"], env=env,
                           capture_output=True, text=True, timeout=540)
        check(p.returncode == 0, f"ant-campaign slurm ran the smoke study as a 2-task job array "
                                 f"in {time.time() - t0:.1f} s (exit {p.returncode}: {p.stderr.strip()[-2000:]})")
        check("report.json" in p.stdout, f"it says where the report is ({p.stdout.strip()})")
        for k in (1, 2):
            check(os.path.isfile(os.path.join(out, "shards", str(k), "report.json")),
                  f"shard {k}/2 left its report in out/shards/{k}")
            check(os.path.isfile(os.path.join(out, "slurm", f"{k}.out")), f"task {k} left its output in out/slurm/{k}.out")
        script = tail(os.path.join(out, "slurm", "job.sh"), 100)
        check("--shard \"$k\"/2" in script or "--shard \"$k\"'/2'" in script, "job.sh runs shard $SLURM_ARRAY_TASK_ID/2")
        sch = subprocess.run([campaign, "schedule", smoke], capture_output=True, text=True)
        if not check(sch.returncode == 0, f"ant-campaign schedule prints the unsharded schedule {sch.stderr.strip()}"):
            sch.stdout = "[]"
        try:
            with open(os.path.join(out, "report.json")) as f:
                rep = json.load(f)
        except (OSError, ValueError) as e:
            check(False, f"the merged report.json is there ({e})")
            rep = None
        if rep is not None:
            check(rep["schedule"] == json.loads(sch.stdout), "the merged report's schedule equals the unsharded one")
            want = len(json.loads(sch.stdout))   # 24: 12 injections under 2 policies
            check(len(rep["injections"]) == len(rep["schedule"]) == want > 0,
                  f"every injection ran ({len(rep['injections'])} of {want})")
            check(len(rep.get("merged_from", [])) == 2 and not rep.get("partial"),
                  "merged from the 2 shards, not partial")
            rq = rep["requests"]
            check(all(c in rq for c in CLASSES) and rq["total"] == sum(rq[c] for c in CLASSES) > 100,
                  f"the requests add up ({rq})")
        # A refused study is refused before anything is submitted.
        bad = os.path.join(tmp, "bad.json")
        with open(smoke) as f:
            st = json.load(f)
        st.update(colour=1, stack=os.path.join(os.path.dirname(smoke), st["stack"]))
        with open(bad, "w") as f:
            json.dump(st, f)
        p = subprocess.run([campaign, "slurm", bad, "--shards", "2", "-o", os.path.join(tmp, "bad")], env=env,
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 2 and "unknown key \"colour\"" in p.stderr and not os.path.exists(os.path.join(tmp, "bad")),
              f"a malformed study is refused before submitting (exit {p.returncode}: {p.stderr.strip()})")
        # A failing task is named, with the end of its output.
        # (ANTD=/bin/false in the tasks' environment: the study no longer loads there.)
        fail_out = os.path.join(tmp, "fail")
        p = subprocess.run([campaign, "slurm", smoke, "--shards", "2", "-o", fail_out,
                            "--sbatch-arg=--export=ALL,ANTD=/bin/false"], env=env,
                           capture_output=True, text=True, timeout=300)
        check(p.returncode == 1 and "task 1 (shard 1/2)" in p.stderr and "1.out" in p.stderr
              and not os.path.exists(os.path.join(fail_out, "report.json")),
              f"a failing task is named with its output, nothing merged (exit {p.returncode}: {p.stderr.strip()[-800:]})")
finally:
    stop_cluster()
    left = ours()
    check(not left, f"no daemon or job of the test's cluster left behind ({left})")
    shutil.rmtree(tmp, ignore_errors=True)
if why_skip and not checks.failed:
    skip(why_skip)
print(f"{'FAILED' if checks.failed else 'passed'}: {checks.failed} failed ({time.time() - t_start:.1f} s)")
sys.exit(1 if checks.failed else 0)
