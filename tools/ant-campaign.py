#!/usr/bin/env python3
"""ant-campaign - robustness studies: a study file in, a report with tables and plots out.

A study names a stack, a workload, the faults to inject and the policies to
compare.  `run` draws the fault schedule from the seed, runs it against a
private antd per policy, classifies every request (ant-campaign-load is the
oracle), lines each injection up with antd's log, and writes DIR/report.json,
results.csv, requests.csv.gz, report.md, report.html and plots (gnuplot).
`merge` joins the outputs of shards, `compare` sets two studies side by side.
"""

import argparse
import csv
import gzip
import hashlib
import html
import io
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PROG = "ant-campaign"
CLASSES = ["correct", "correct_after_replay", "error", "lost", "duplicated", "wrong"]
FORMAT = "ant-campaign-report"
FORMAT_VERSION = 1

# ---- where the binaries are -------------------------------------------------------

HERE = os.path.dirname(os.path.realpath(__file__))


def find_binary(name, *candidates):
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    p = shutil.which(name)
    if p:
        return p
    die(f"cannot find {name} (looked next to {PROG} and in $PATH)", 1)


def binaries():
    return {
        "antd": find_binary("antd", os.environ.get("ANTD"), os.path.join(HERE, "../supervisor/antd"),
                            os.path.join(HERE, "../sbin/antd")),
        "antctl": find_binary("antctl", os.path.join(HERE, "antctl")),
        "load": find_binary("ant-campaign-load", os.path.join(HERE, "ant-campaign-load")),
        "fuse": next((c for c in (os.path.join(HERE, "ant-fuse"), shutil.which("ant-fuse") or "")
                      if c and os.access(c, os.X_OK)), None),
        "servers": next((d for d in (os.environ.get("ANT_SERVERS_DIR"), os.path.join(HERE, "../servers"),
                                     os.path.join(HERE, "../libexec/ant")) if d and os.path.isdir(d)), None),
    }


class StudyError(Exception):
    pass


def die(msg, code=1):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)

# ---- the study file ---------------------------------------------------------------

STUDY_KEYS = {
    "name": str, "description": str, "stack": str, "workload": dict, "faults": list, "upgrades": dict,
    "sweep": dict,
    "injections": int, "recovery_ms": int, "settle_ms": int, "observe_ms": int, "policies": dict, "seed": int,
}
WORKLOAD_KEYS = {"kind": str, "server": str, "op": str, "apps": int, "inflight": int,
                 "deadline_ms": int, "pause_us": int, "files": int, "image": str, "image_mb": int,
                 "command": list, "uncached": bool}
SWEEP_KEYS = {"points": dict, "faults": list, "repeat": int, "nth_max": int}
UPGRADE_KEYS = {"every": int, "servers": list, "probation_ms": int}
FAULT_KEYS = {"fault": str, "servers": list, "nth_max": int, "weight": (int, float), "point": str}
POLICY_KEYS = {"replay", "restart", "strategy", "standby", "poison_kills", "deadline_ms",
               "intensity", "backoff", "on_give_up", "ready_timeout_ms", "io_deadline_ms"}


def check_keys(path, where, obj, allowed):
    for k, v in obj.items():
        if k not in allowed:
            raise StudyError(f"{path}: {where}: unknown key \"{k}\" (known: {', '.join(sorted(allowed))})")
        want = allowed[k] if isinstance(allowed, dict) else None
        if want and not isinstance(v, want) or (want is int and isinstance(v, bool)):
            name = want.__name__ if isinstance(want, type) else "a number"
            raise StudyError(f"{path}: {where}.{k}: expected {name}, got {json.dumps(v)}")


def in_range(path, where, v, lo, hi):
    if not lo <= v <= hi:
        raise StudyError(f"{path}: {where}: {v} is out of range ({lo} to {hi})")


def vocabulary(bins):
    out = subprocess.run([bins["antctl"], "inject", "--vocabulary", "--json"], capture_output=True,
                         text=True, check=False)
    try:
        return {re.split(r"[:\[]", v["fault"])[0]: v for v in json.loads(out.stdout)}
    except (ValueError, KeyError) as e:
        die(f"antctl inject --vocabulary --json gave no vocabulary ({e})")


def load_study(path, bins):
    """The study, checked like a stack file: every key known, every value in range, the
    stack loadable, every fault in the vocabulary and every server in the stack."""
    try:
        with open(path, encoding="utf-8") as f:
            study = json.load(f)
    except OSError as e:
        raise StudyError(f"{path}: {e.strerror}")
    except ValueError as e:
        raise StudyError(f"{path}: not JSON: {e}")
    if not isinstance(study, dict):
        raise StudyError(f"{path}: expected an object")
    check_keys(path, "study", study, STUDY_KEYS)
    need = ("name", "stack") + (() if "sweep" in study else ("faults", "injections"))
    for k in need:
        if k not in study:
            raise StudyError(f"{path}: study: missing \"{k}\"")
    if "sweep" in study and ("faults" in study or "injections" in study):
        raise StudyError(f"{path}: study: \"sweep\" makes its own schedule: no \"faults\" or \"injections\" beside it")
    if "injections" in study:
        in_range(path, "injections", study["injections"], 1, 10_000_000)
    in_range(path, "recovery_ms", study.setdefault("recovery_ms", 3000), 10, 600_000)
    in_range(path, "settle_ms", study.setdefault("settle_ms", 50), 0, 600_000)
    in_range(path, "observe_ms", study.setdefault("observe_ms", 1500), 0, 600_000)
    stack_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), study["stack"]))
    chk = subprocess.run([bins["antd"], "--check"] + (["--server-path", bins["servers"]] if bins["servers"] else [])
                         + [stack_path], capture_output=True, text=True, check=False)
    if chk.returncode != 0:
        raise StudyError(f"{path}: stack \"{study['stack']}\" does not load: {chk.stderr.strip()}")
    with open(stack_path, encoding="utf-8") as f:
        stack = json.load(f)
    servers = [s["name"] for s in stack.get("servers", [])]
    w = study.setdefault("workload", {})
    check_keys(path, "workload", w, WORKLOAD_KEYS)
    w.setdefault("kind", "chain")
    if w["kind"] not in ("chain", "fs", "fuse"):
        raise StudyError(f"{path}: workload.kind: \"{w['kind']}\" is not one this version runs (chain, fs, fuse)")
    if w["kind"] == "fuse":
        # The same tree, through an ant-fuse mount: what ordinary programs see.
        if os.geteuid() != 0:
            raise StudyError(f"{path}: workload.kind fuse mounts with ant-fuse: run as root")
        if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
            raise StudyError(f"{path}: workload.kind fuse needs /dev/fuse and fusermount3 (apt-get install fuse3)")
        if not bins.get("fuse"):
            raise StudyError(f"{path}: workload.kind fuse needs ant-fuse (a build with -Dfuse=enabled)")
        cmd = w.get("command")
        if cmd is not None and (not cmd or not all(isinstance(x, str) for x in cmd)):
            raise StudyError(f"{path}: workload.command: a list of strings (the program and its arguments)")
        w.setdefault("uncached", True)
    if w["kind"] in ("fs", "fuse"):
        # The file stack: a tree of files made from the seed in a fresh ext4
        # image per segment (the stack's file `image`), read, stat'ed and
        # written through fs, every answer checked; e2fsck at the end.
        w.setdefault("server", "fs")
        in_range(path, "workload.files", w.setdefault("files", 64), 1, 100000)
        in_range(path, "workload.image_mb", w.setdefault("image_mb", 128), 16, 65536)
        w.setdefault("image", "disk.img")
        names = [f.get("path") for s in stack.get("servers", []) for f in s.get("files", [])]
        if w["image"] not in names:
            raise StudyError(f"{path}: workload.image: \"{w['image']}\" is not a file of the stack ({', '.join(map(str, names))})")
        for tool in ("mkfs.ext4", "e2fsck"):
            if not (shutil.which(tool) or os.path.exists("/sbin/" + tool)):
                raise StudyError(f"{path}: workload.kind fs needs {tool} (apt-get install e2fsprogs)")
    w.setdefault("server", servers[0] if servers else "")
    w.setdefault("op", "echo")
    if w["server"] not in servers:
        raise StudyError(f"{path}: workload.server: \"{w['server']}\" is not a server of the stack ({', '.join(servers)})")
    in_range(path, "workload.apps", w.setdefault("apps", 2), 1, 64)
    in_range(path, "workload.inflight", w.setdefault("inflight", 2), 1, 256)
    in_range(path, "workload.deadline_ms", w.setdefault("deadline_ms", 5000), 1, 3_600_000)
    in_range(path, "workload.pause_us", w.setdefault("pause_us", 0), 0, 10_000_000)
    vocab = vocabulary(bins)
    sw = study.get("sweep")
    if sw is not None:
        # Every named failpoint x every fault type, `repeat` times: the
        # faults become entries of their own, one per (server, point).
        check_keys(path, "sweep", sw, SWEEP_KEYS)
        for k in ("points", "faults"):
            if not sw.get(k):
                raise StudyError(f"{path}: sweep: missing or empty \"{k}\"")
        in_range(path, "sweep.repeat", sw.setdefault("repeat", 1), 1, 1_000_000)
        in_range(path, "sweep.nth_max", sw.setdefault("nth_max", 5), 1, 1_000_000)
        study["faults"] = []
        for srv, pts in sorted(sw["points"].items()):
            if srv not in servers:
                raise StudyError(f"{path}: sweep.points: \"{srv}\" is not a server of the stack ({', '.join(servers)})")
            if not isinstance(pts, list) or not pts or not all(isinstance(x, str) and 0 < len(x) < 32 for x in pts):
                raise StudyError(f"{path}: sweep.points.{srv}: expected a list of failpoint names (1 to 31 bytes)")
            for pt in pts:
                for fl in sw["faults"]:
                    study["faults"].append({"fault": fl, "servers": [srv], "point": pt, "nth_max": sw["nth_max"],
                                            "weight": 1})
        study["injections"] = len(study["faults"]) * sw["repeat"]
    if not study["faults"]:
        raise StudyError(f"{path}: faults: empty")
    for i, fl in enumerate(study["faults"]):
        where = f"faults[{i}]"
        if not isinstance(fl, dict):
            raise StudyError(f"{path}: {where}: expected an object")
        check_keys(path, where, fl, FAULT_KEYS)
        if "fault" not in fl:
            raise StudyError(f"{path}: {where}: missing \"fault\"")
        base = re.split(r"[:\[]", fl["fault"])[0]
        if base not in vocab:
            raise StudyError(f"{path}: {where}.fault: unknown fault \"{fl['fault']}\" (antctl inject --vocabulary lists them)")
        if ":" in vocab[base]["fault"] and ":" not in fl["fault"] and not vocab[base]["fault"].endswith("]"):
            raise StudyError(f"{path}: {where}.fault: \"{base}\" takes an argument ({vocab[base]['fault']})")
        fl.setdefault("servers", servers)
        for s in fl["servers"]:
            if s not in servers:
                raise StudyError(f"{path}: {where}.servers: \"{s}\" is not a server of the stack ({', '.join(servers)})")
        in_range(path, f"{where}.nth_max", fl.setdefault("nth_max", 50), 1, 1_000_000)
        in_range(path, f"{where}.weight", fl.setdefault("weight", 1), 0, 1e9)
    up = study.get("upgrades")
    if up is not None:
        check_keys(path, "upgrades", up, UPGRADE_KEYS)
        in_range(path, "upgrades.every", up.setdefault("every", 1), 1, 1_000_000)
        in_range(path, "upgrades.probation_ms", up.setdefault("probation_ms", 100), 0, 600_000)
        up.setdefault("servers", servers)
        if not up["servers"]:
            raise StudyError(f"{path}: upgrades.servers: empty")
        for sv in up["servers"]:
            if sv not in servers:
                raise StudyError(f"{path}: upgrades.servers: \"{sv}\" is not a server of the stack ({', '.join(servers)})")
    pol = study.setdefault("policies", {"default": {}})
    if not pol:
        raise StudyError(f"{path}: policies: empty (leave it out for the stack's own)")
    for name, over in pol.items():
        if not isinstance(over, dict):
            raise StudyError(f"{path}: policies.{name}: expected an object of supervision keys")
        for k in over:
            if k not in POLICY_KEYS:
                raise StudyError(f"{path}: policies.{name}: unknown supervision key \"{k}\" (known: {', '.join(sorted(POLICY_KEYS))})")
    study["_stack_path"] = stack_path
    study["_stack"] = stack
    return study

# ---- the schedule -------------------------------------------------------------------


def schedule(study, seed):
    """Every injection of the study, in order: the same study and seed give the same list."""
    rng = random.Random(f"{seed}:{study['name']}")
    faults = study["faults"]
    weights = [f["weight"] for f in faults]
    out = []
    for i in range(study["injections"]):
        # A sweep takes every entry in turn; else one is drawn by weight.
        fl = faults[i % len(faults)] if "sweep" in study else rng.choices(faults, weights=weights)[0]
        server = rng.choice(fl["servers"])
        nth = rng.randint(1, fl["nth_max"])
        up = study.get("upgrades")
        upgrade = rng.choice(up["servers"]) if up and i % up["every"] == 0 else None
        for policy in study["policies"]:
            e = {"index": len(out), "injection": i, "policy": policy, "fault": fl["fault"],
                 "server": server, "trigger": {"nth": nth}}
            if fl.get("point"):
                e["trigger"]["point"] = fl["point"]   # the Nth hit of that named failpoint
            if upgrade:
                e["upgrade"] = upgrade   # begun just before the fault is armed
            out.append(e)
    return out


def shard_of(sched, k, n):
    return [e for e in sched if e["injection"] % n == k - 1]

# ---- talking to antd ------------------------------------------------------------


def ctl(run_dir, req, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    try:
        s.connect(os.path.join(run_dir, "control.sock"))
        s.send(json.dumps(req).encode())
        return json.loads(s.recv(1 << 20).decode())
    finally:
        s.close()


def status_of(run_dir, server):
    st = ctl(run_dir, {"cmd": "status"})
    for s in st.get("servers", []):
        if s["name"] == server:
            return s
    return {}


def variant_stack(study, policy):
    stack = json.loads(json.dumps(study["_stack"]))
    over = study["policies"][policy]
    base = os.path.dirname(study["_stack_path"])
    for s in stack.get("servers", []):
        if over:
            sup = s.get("supervision", {})
            if isinstance(sup, dict):
                sup.update(over)
                s["supervision"] = sup
    stack.pop("run_dir", None)
    return stack, base


class Antd:
    def __init__(self, bins, stack, stack_dir, work, name, here=False):
        self.run_dir = os.path.join(work, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        os.chmod(self.run_dir, 0o755)
        # The stack file where the original is, so that its relative paths and
        # policies hold; in the work folder, with the original's policy folders
        # named, when its paths are absolute already (here) or that folder is
        # not writable.
        extra = []
        self.stack_path = os.path.join(stack_dir, f".campaign-{os.getpid()}-{name}.json")
        if here or not os.access(stack_dir, os.W_OK):
            self.stack_path = os.path.join(work, "stack.json")
            extra = ["--policy-path", ":".join([stack_dir, os.path.join(stack_dir, "policies"),
                                                os.path.join(stack_dir, "../policies")])]
        with open(self.stack_path, "w", encoding="utf-8") as f:
            json.dump(stack, f)
        self.log = os.path.join(work, "antd.log")
        args = [bins["antd"], "--run-dir", self.run_dir, "--log-json", "--log-file", self.log] + extra
        if bins["servers"]:
            args += ["--server-path", bins["servers"]]
        out = subprocess.run(args + [self.stack_path], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            os.unlink(self.stack_path)
            raise StudyError(f"antd did not start the stack: {out.stderr.strip() or out.stdout.strip()}")

    def stop(self):
        try:
            ctl(self.run_dir, {"cmd": "shutdown", "timeout_ms": 2000})
        except OSError:
            pass
        pidf = os.path.join(self.run_dir, "antd.pid")
        for _ in range(100):
            if not os.path.exists(pidf):
                break
            time.sleep(0.05)
        if os.path.exists(self.stack_path):
            os.unlink(self.stack_path)

    def events(self):
        ev = []
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        ev.append(json.loads(line))
                    except ValueError:
                        pass
        except OSError:
            pass
        return ev


def parse_time(t):
    # "2026-12-05T16:26:13.554Z"
    return time.mktime(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0" + t[19:-1])

# ---- the workload ---------------------------------------------------------------------


class Load:
    def __init__(self, bins, run_dir, w, out, seed):
        self.counts = {c: 0 for c in CLASSES + ["pending", "requests"]}
        self.out = out
        self.p = subprocess.Popen([bins["load"], "--run-dir", run_dir, "--out", out, "--server", w["server"],
                                   "--op", w["op"], "--apps", str(w["apps"]), "--inflight", str(w["inflight"]),
                                   "--deadline", str(w["deadline_ms"]), "--pause-us", str(w["pause_us"]),
                                   "--seed", str(seed), "--progress-ms", "100"]
                                  + (["--workload", "fs", "--files", str(w["files"])] if w["kind"] == "fs" else []),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            for line in self.p.stdout:
                try:
                    self.counts = json.loads(line)
                except ValueError:
                    pass
        except (ValueError, OSError):
            pass   # stdout closed under us: stop() is done with the workload

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        # The reader takes stdout to its end (the last counts) before
        # communicate() reads stderr: two readers of one pipe lose lines.
        self.t.join(120)
        try:
            err = self.p.communicate(timeout=120)[1]
        except subprocess.TimeoutExpired:
            self.p.kill()
            err = self.p.communicate()[1]
        self.t.join(5)
        if self.p.returncode != 0:
            raise StudyError(f"the workload failed: {err.strip()}")

class FuseLoad:
    """The workload through an ant-fuse mount of the stack: applications (threads)
    read the tree's files whole through the kernel, each checked against the
    tree's SHA-256; or, with workload.command, each runs that command in the
    mount again and again, its exit status its own check (0: right).  A
    replay inside the stack is not seen from here: those count as correct."""

    def __init__(self, bins, run_dir, w, out, seed, sums, mnt):
        self.w, self.out, self.sums, self.mnt, self.seed = w, out, sums, mnt, seed
        self.counts = {c: 0 for c in CLASSES + ["pending", "requests"]}
        self.lock = threading.Lock()
        self.rows = []
        self.stopping = False
        os.makedirs(mnt, exist_ok=True)
        args = [bins["fuse"], "--run-dir", run_dir, "-f"] + (["--uncached"] if w["uncached"] else []) + [mnt]
        self.fuse = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if not wait_until(lambda: os.path.ismount(mnt) or self.fuse.poll() is not None, 10) or not os.path.ismount(mnt):
            self.fuse.kill()
            err = self.fuse.communicate()[1]
            raise StudyError(f"ant-fuse did not mount the stack: {err.strip()}")
        self.apps = [threading.Thread(target=self._app, args=(n,)) for n in range(w["apps"])]
        for t in self.apps:
            t.start()

    def _one(self, n, rng):
        w = self.w
        t0, m0 = time.time(), time.monotonic()
        err, op = "", "command" if w.get("command") else "read"
        try:
            if w.get("command"):
                r = subprocess.run(w["command"], cwd=self.mnt, capture_output=True, text=True,
                                   timeout=w["deadline_ms"] / 1000)
                cls = "correct" if r.returncode == 0 else "wrong"
                if r.returncode != 0:
                    err = f"exit {r.returncode}"
            elif rng.random() < 0.2:
                # Its own file rewritten, fsync'ed (a commit down to disk), read back.
                op = "write"
                data = rng.randbytes(16384)
                own = os.path.join(self.mnt, "w", f"a{n}")
                fd = os.open(own, os.O_WRONLY)
                try:
                    os.pwrite(fd, data, 0)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                with open(own, "rb") as f:
                    cls = "correct" if f.read() == data else "wrong"
            else:
                k = rng.randrange(len(self.sums))
                with open(os.path.join(self.mnt, "t", f"f{k}"), "rb") as f:
                    got = hashlib.sha256(f.read()).hexdigest()
                cls = "correct" if got == self.sums[k] else "wrong"
        except subprocess.TimeoutExpired:
            cls, err = "lost", "timeout"
        except OSError as e:
            cls, err = "error", errno_name(e.errno)
        lat = time.monotonic() - m0
        if cls != "lost" and lat > w["deadline_ms"] / 1000:
            cls = "lost"   # answered, but after its deadline
        with self.lock:
            self.counts[cls] += 1
            self.counts["requests"] += 1
            self.rows.append([n, len(self.rows), f"{t0:.6f}", f"{lat * 1e6:.1f}", cls, err, 0, 0, op])

    def _app(self, n):
        rng = random.Random(f"{self.seed}:fuse:{n}")
        while not self.stopping:
            self._one(n, rng)

    def stop(self):
        self.stopping = True
        for t in self.apps:
            t.join(self.w["deadline_ms"] / 1000 + 10)
        subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, check=False)
        try:
            self.fuse.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.fuse.kill()
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True, check=False)
        with open(self.out, "w", newline="", encoding="utf-8") as f:
            wr = csv.writer(f)
            wr.writerow(["app", "request", "t_send", "latency_us", "class", "error", "replayed", "trace_len", "op"])
            wr.writerows(self.rows)
        if any(t.is_alive() for t in self.apps):
            raise StudyError("the workload through the mount did not stop: a read hangs in the mount")


def errno_name(e):
    import errno as errno_mod
    return errno_mod.errorcode.get(e, str(e)) if e else "error"

# ---- the progress line ----------------------------------------------------------------


class Progress:
    """The line on the terminal: injections done of all, rate, ETA, classes so far."""

    def __init__(self, total, done, quiet):
        self.total, self.done, self.t0, self.done0 = total, done, time.time(), done
        self.on = not quiet and sys.stderr.isatty()
        self.base = {}          # classes of the segments finished
        self.live = {}          # segment -> its workload's counts now
        self.lock = threading.Lock()

    def step(self, seg, counts, injections=1):
        with self.lock:
            self.done += injections
            self.live[seg] = counts
            self.show()

    def finish(self, seg, counts):
        with self.lock:
            self.live.pop(seg, None)
            for k in CLASSES:
                self.base[k] = self.base.get(k, 0) + counts.get(k, 0)

    def show(self):
        if not self.on:
            return
        el = time.time() - self.t0
        rate = (self.done - self.done0) / el if el > 0 else 0
        eta = (self.total - self.done) / rate if rate > 0 else 0
        c = {k: self.base.get(k, 0) + sum(v.get(k, 0) for v in self.live.values()) for k in CLASSES}
        line = (f"\r{self.done}/{self.total} injections, {rate:.1f}/s, ETA {int(eta) // 60}:{int(eta) % 60:02d}  "
                + " ".join(f"{k} {c.get(k, 0)}" for k in CLASSES))
        sys.stderr.write(line[:160].ljust(120))
        sys.stderr.flush()

    def end(self):
        if self.on:
            sys.stderr.write("\n")

# ---- one policy's part of the run ------------------------------------------------------


def wait_until(pred, timeout, step=0.01):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def tool(name):
    return shutil.which(name) or "/sbin/" + name


def fs_image(study, stack, bins, pw, seed):
    """A fresh image of the seed's tree for this segment, and the stack's files in pw."""
    w = study["workload"]
    tree = os.path.join(pw, "tree")
    r = subprocess.run([bins["load"], "--make-tree", tree, "--files", str(w["files"]), "--apps", str(w["apps"]),
                        "--seed", str(seed)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise StudyError(f"cannot make the file tree: {r.stderr.strip()}")
    img = os.path.join(pw, os.path.basename(w["image"]))
    sums = []
    for i in range(w["files"]):
        with open(os.path.join(tree, "t", f"f{i}"), "rb") as f:
            sums.append(hashlib.sha256(f.read()).hexdigest())
    r = subprocess.run([tool("mkfs.ext4"), "-q", "-F", "-b", "4096", "-d", tree, img, f"{w['image_mb']}M"],
                       capture_output=True, text=True, check=False)
    shutil.rmtree(tree, ignore_errors=True)
    if r.returncode != 0:
        raise StudyError(f"mkfs.ext4 failed: {r.stderr.strip()}")
    for s in stack.get("servers", []):
        for f in s.get("files", []):
            if not os.path.isabs(f["path"]):
                f["path"] = os.path.join(pw, os.path.basename(f["path"]))
    return img, sums


# How often the runner asks antd while it waits.  Every number of the report
# comes from antd's log (its own times), not from these polls: a poll only
# decides when the next fault is armed, and each one costs antd a status (it
# reads /proc for every server), which the stack under study should not pay
# 200 times a second.
POLL_S = 0.02


# After a fault, the stack is degraded if, once the server runs and right
# answers come again, errors still come too: at least this many in a look of
# this long, and over a tenth of the answers.
DEGRADED_LOOK_S = 0.3
DEGRADED_ERRORS = 5


def served(load):
    return load.counts.get("correct", 0) + load.counts.get("correct_after_replay", 0)


def settle_after(run_dir, server, pid0, load, study, deadline):
    """How the stack came out of a fault that went off: `restarted` (another
    process of the server runs), `survived` (the same one still runs when
    observe_ms is over: a delay, a leak), `given-up`, `not-recovered` (not
    running by the deadline), or `degraded` (running, but requests no longer
    come back right: fewer than 10 more within recovery_ms, or errors still
    coming after that)."""
    obs = min(deadline, time.time() + study["observe_ms"] / 1000)
    st = wait_until(lambda: (lambda x: x if x.get("state") == "failed" or
                             (x.get("state") == "running" and x.get("pid") != pid0) else None)(
        status_of(run_dir, server)), max(0.0, obs - time.time()), POLL_S)
    if not st:
        st = wait_until(lambda: (lambda x: x if x.get("state") in ("running", "failed", "stopped") else None)(
            status_of(run_dir, server)), max(0.05, deadline - time.time()), POLL_S)
    state = st.get("state") if st else "restarting"
    if state == "failed":
        return "given-up"
    if state != "running":
        return "not-recovered"
    n0, e0 = served(load), load.counts.get("error", 0)
    if not wait_until(lambda: served(load) >= n0 + 10, max(0.2, deadline - time.time()), 0.01):
        return "degraded"
    # Right answers come, but do errors still come too?  A stack that fails
    # part of its work (a disk at its ICA limit: the reads the cache holds
    # pass, the others fail) is degraded as well; left alone, it fails the
    # next injections' requests and they would be blamed for it.
    time.sleep(max(0.0, min(DEGRADED_LOOK_S, deadline - time.time())))
    dn, de = served(load) - n0, load.counts.get("error", 0) - e0
    if de >= DEGRADED_ERRORS and de * 10 > dn + de:
        return "degraded"
    return "restarted" if st.get("pid") != pid0 else "survived"


def run_policy(study, policy, entries, bins, pw, seed, prog, stopped, seg):
    stack, stack_dir = variant_stack(study, policy)
    os.makedirs(pw, exist_ok=True)
    kind = study["workload"]["kind"]
    fs = kind in ("fs", "fuse")
    img, sums = fs_image(study, stack, bins, pw, seed) if fs else (None, None)
    antd = Antd(bins, stack, stack_dir, pw, f"{policy}-{seg}", here=fs)
    load = None
    results = []
    counters = {}
    try:
        if kind == "fuse":
            load = FuseLoad(bins, antd.run_dir, study["workload"], os.path.join(pw, "requests.csv"), seed, sums,
                            os.path.join(pw, "mnt"))
        else:
            load = Load(bins, antd.run_dir, study["workload"], os.path.join(pw, "requests.csv"), seed)
        wait_until(lambda: load.counts.get("correct", 0) > 0, 5)
        for e in entries:
            if stopped["now"]:
                break
            res = dict(e)
            upgrader = None
            if e.get("upgrade"):
                # The upgrade goes on while the fault is armed and fires: its
                # outcome (upgraded, rolled back, refused) is the injection's too.
                def upgrade(srv=e["upgrade"], res=res):
                    try:
                        rep = ctl(antd.run_dir, {"cmd": "upgrade", "server": srv,
                                                 "probation_ms": study["upgrades"]["probation_ms"]}, timeout=60)
                        res["upgrade_outcome"] = rep.get("outcome", "upgraded" if rep.get("ok") else "failed")
                        if not rep.get("ok"):
                            res["upgrade_error"] = rep.get("error", "")
                    except OSError as err:
                        res["upgrade_outcome"] = f"no answer ({err})"
                upgrader = threading.Thread(target=upgrade)
                upgrader.start()
            pid0 = status_of(antd.run_dir, e["server"]).get("pid")
            res["t_arm"] = time.time()
            req = {"cmd": "inject", "server": e["server"], "fault": e["fault"], "nth": e["trigger"]["nth"],
                   "count": 1}
            if e["trigger"].get("point"):
                req["point"] = e["trigger"]["point"]
            rep = ctl(antd.run_dir, req)
            if not rep.get("ok"):
                res.update(recovery="refused", error=rep.get("error", ""))
                results.append(res)
                continue
            fid = rep.get("inject", {}).get("id")
            # Fired, then back to running (or given up), within recovery_ms.
            deadline = time.time() + study["recovery_ms"] / 1000
            def gone_off():
                armed = {f.get("id"): f for f in ctl(antd.run_dir, {"cmd": "inject-list"}).get("faults", [])}
                f = armed.get(fid)
                return f is None or f.get("sent", 0) > 0   # set off (and disarmed after its one time)
            fired = wait_until(gone_off, max(0.0, deadline - time.time()), POLL_S)
            if not fired:
                ctl(antd.run_dir, {"cmd": "inject-clear", "id": fid})
                res["recovery"] = "not-fired"
            else:
                res["recovery"] = settle_after(antd.run_dir, e["server"], pid0, load, study, deadline)
            res["fault_id"] = fid
            if upgrader:
                upgrader.join(65)
            time.sleep(study["settle_ms"] / 1000)
            results.append(res)
            prog.step(seg, load.counts)
            if res["recovery"] in ("given-up", "degraded"):
                # The stack will not come back by itself: the runner acts as an
                # operator would (start, or restart, the server), so that the
                # next injection meets a healthy stack; the injection says so.
                ctl(antd.run_dir, {"cmd": "start" if res["recovery"] == "given-up" else "restart",
                                   "server": e["server"]})
                res["operator"] = "started" if res["recovery"] == "given-up" else "restarted"
                wait_until(lambda: status_of(antd.run_dir, e["server"]).get("state") == "running", 5)
        counters = {s["name"]: {k: s.get(k, 0) for k in ("restarts", "replays", "failovers", "failed", "served")}
                    for s in ctl(antd.run_dir, {"cmd": "status"}).get("servers", [])}
    finally:
        if load:
            try:
                load.stop()
            except StudyError as err:
                print(f"{PROG}: {err}", file=sys.stderr)
        antd.stop()
    events = antd.events()
    # From antd's log: per server, requests failed as poison and give-ups.
    for ev in events:
        if ev.get("event") in ("poison", "give-up") and ev.get("server") in counters:
            key = "poison" if ev["event"] == "poison" else "given_up"
            counters[ev["server"]][key] = counters[ev["server"]].get(key, 0) + 1
    if img:
        # The image after every fault of the segment: is it consistent?
        r = subprocess.run([tool("e2fsck"), "-fn", img], capture_output=True, text=True, check=False)
        counters["_fsck"] = {"exit": r.returncode, "clean": r.returncode == 0,
                             "says": (r.stdout + r.stderr).strip()[-400:]}
        os.unlink(img)
    return results, events, counters

# ---- lining injections up with the log and the requests --------------------------------


def read_requests(path, policy):
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            r["policy"] = policy
            r["t_send"] = float(r["t_send"])
            r["latency_us"] = float(r["latency_us"])
            rows.append(r)
    return rows


def analyse(results, events, rows):
    """Per injection: when it fired, was detected (the server's end), restarted (ready)
    and the first replayed answer came; the requests it touched."""
    for ev in events:
        if "time" in ev:
            ev["_t"] = parse_time(ev["time"])
    # Each injection's events are the ones before the next was armed: a fault
    # that ends nothing (a delay) must not take the next one's restart.
    arms = [r.get("t_arm", 0) for r in results] + [float("inf")]
    for k, r in enumerate(results):
        until = arms[k + 1]
        fid = r.get("fault_id")
        fire = next((ev for ev in events if ev.get("event") == "injected" and ev.get("inject_id") == fid), None)
        if not fire:
            continue
        t = fire["_t"]
        r["t_fire"] = t
        srv = r["server"]
        detect = next((ev for ev in events if t <= ev.get("_t", 0) < until and ev.get("server") == srv
                       and ev.get("event") in ("server-exit", "kill")), None)
        ready = next((ev for ev in events if t <= ev.get("_t", 0) < until and ev.get("server") == srv
                      and ev.get("event") in ("ready", "failover")), None) if detect else None
        if detect:
            r["detect_ms"] = round((detect["_t"] - t) * 1000, 3)
        if ready:
            r["restart_ms"] = round((ready["_t"] - t) * 1000, 3)
        end = ready["_t"] if ready else min(until, t + 1)
        touched = [q for q in rows if q["t_send"] <= end and q["t_send"] + q["latency_us"] / 1e6 >= t
                   and q["class"] != "correct"]
        r["touched"] = len(touched)
        replayed = [q["t_send"] + q["latency_us"] / 1e6 for q in touched if q["class"] == "correct_after_replay"]
        if replayed:
            r["replayed_ms"] = round((min(replayed) - t) * 1000, 3)
        r["touched_classes"] = {c: sum(1 for q in touched if q["class"] == c) for c in CLASSES if c != "correct"}
    for r in results:
        # The outcome: how the stack came out of it, and what its requests saw.
        r["recovered"] = r["recovery"] in ("restarted", "survived")
        tc = r.get("touched_classes", {})
        if not r["recovered"]:
            r["outcome"] = r["recovery"]
        elif tc.get("lost") or tc.get("error") or tc.get("wrong") or tc.get("duplicated"):
            r["outcome"] = "requests-failed"
        elif tc.get("correct_after_replay"):
            r["outcome"] = "replayed"
        else:
            r["outcome"] = "no-request-hit"
    return results


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, math.ceil(p / 100 * len(v)) - 1))
    return v[k]


def summarise(report):
    rq = report["requests"]
    rq["total"] = sum(rq[c] for c in CLASSES)
    ok = rq["correct"] + rq["correct_after_replay"]
    report["availability"] = round(ok / rq["total"], 6) if rq["total"] else None
    rec = {}
    for r in report["injections"]:
        if "restart_ms" in r:
            rec.setdefault(f"{r['fault']} / {r['policy']}", []).append(r["restart_ms"])
    report["recovery_ms"] = {k: {"n": len(v), "p50": pct(v, 50), "p90": pct(v, 90), "p99": pct(v, 99),
                                 "max": max(v)} for k, v in sorted(rec.items())}
    outs = {}
    for r in report["injections"]:
        outs.setdefault(f"{r['fault']} / {r['policy']}", {}).setdefault(r["outcome"], 0)
        outs[f"{r['fault']} / {r['policy']}"][r["outcome"]] += 1
    report["outcomes"] = outs

# ---- writing the report ----------------------------------------------------------------

REQ_COLS = ["policy", "app", "request", "t_send", "latency_us", "class", "error", "replayed", "trace_len", "op"]
INJ_COLS = ["index", "injection", "policy", "fault", "server", "nth", "outcome", "recovery", "operator", "upgrade",
            "upgrade_outcome", "fault_id", "t_fire",
            "detect_ms", "restart_ms", "replayed_ms", "touched"]


def join_requests(sources, dest, total, noncorrect):
    """The requests of every part (gzip CSVs, one header each) into dest, a
    line at a time (a study of millions of requests is never all in memory);
    returns a sample for the latency plot: about 6,000 requests in all, and
    about 2,000 of those that did not end correct."""
    stride = max(1, total // 6000)
    nstride = max(1, noncorrect // 2000)
    sample, k, nk = [], 0, 0
    with gzip.open(dest, "wt", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(REQ_COLS)
        for src in sources:
            with gzip.open(src, "rt", newline="", encoding="utf-8") as f:
                for q in csv.DictReader(f):
                    w.writerow([q.get(c, "") for c in REQ_COLS])
                    bad = q["class"] != "correct"
                    if (not bad and k % stride == 0) or (bad and nk % nstride == 0):
                        q["t_send"] = float(q["t_send"])
                        q["latency_us"] = float(q["latency_us"])
                        sample.append(q)
                    k += not bad
                    nk += bad
    return sample


def req_total(report):
    return sum(report["requests"][c] for c in CLASSES)


def write_outputs(d, report, rows, plots=True, sample=False):
    """The report's files.  rows: every request (written to requests.csv.gz),
    or with sample, a sample for the plots (requests.csv.gz is written)."""
    with open(os.path.join(d, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(d, "results.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(INJ_COLS)
        for r in report["injections"]:
            w.writerow([r.get("trigger", {}).get("nth") if c == "nth" else r.get(c, "") for c in INJ_COLS])
    if rows is not None and not sample:
        with gzip.open(os.path.join(d, "requests.csv.gz"), "wt", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(REQ_COLS)
            for q in rows:
                w.writerow([q.get(c, "") for c in REQ_COLS])
    made = make_plots(d, report, rows, len(rows) if sample and rows is not None else None) if plots else []
    report["plots"] = made
    with open(os.path.join(d, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    md = report_md(report)
    with open(os.path.join(d, "report.md"), "w", encoding="utf-8") as f:
        f.write(md)
    with open(os.path.join(d, "report.html"), "w", encoding="utf-8") as f:
        f.write(report_html(d, report))


def table(head, rows):
    out = "| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n"
    for r in rows:
        out += "| " + " | ".join("" if v is None else str(v) for v in r) + " |\n"
    return out


def report_tables(report):
    rq = report["requests"]
    t = []
    t.append(("Requests", table(["class", "requests", "share"],
                                [[c, rq[c], f"{100 * rq[c] / rq['total']:.3f}%" if rq["total"] else "-"] for c in CLASSES]
                                + [["total", rq["total"], ""]])))
    pp = report.get("per_policy", {})
    t.append(("Requests per policy", table(["policy"] + CLASSES + ["total", "availability"],
                                           [[p] + [v[c] for c in CLASSES] + [v["total"], v.get("availability")]
                                            for p, v in pp.items()])))
    t.append(("Recovery time per fault type and policy (ms, fault fired -> server ready)",
              table(["fault / policy", "n", "p50", "p90", "p99", "max"],
                    [[k, v["n"], v["p50"], v["p90"], v["p99"], v["max"]] for k, v in report["recovery_ms"].items()])))
    outs = sorted({o for v in report["outcomes"].values() for o in v})
    t.append(("Outcome of each injection", table(["fault / policy"] + outs,
                                                 [[k] + [v.get(o, 0) for o in outs] for k, v in report["outcomes"].items()])))
    cnt = report.get("counters", {})
    t.append(("The stack's own counters (summed over policies)",
              table(["server", "restarts", "replays", "failovers", "poison", "given up", "calls failed"],
                    [[s, v.get("restarts"), v.get("replays"), v.get("failovers"), v.get("poison", 0),
                      v.get("given_up", 0), v.get("failed")] for s, v in cnt.items()])))
    return t


def report_md(report):
    s = f"# Robustness study: {report['study']['name']}\n\n"
    s += (f"Seed {report['seed']}, {len(report['injections'])} injections"
          f"{' (shard ' + report['shard'] + ')' if report.get('shard') else ''}"
          f"{', PARTIAL' if report.get('partial') else ''}; antd {report['versions'].get('antd', '?')}, "
          f"commit {report.get('commit', '?')}, {report['machine'].get('node', '?')} "
          f"({report['machine'].get('cpus', '?')} CPUs, {report['machine'].get('kernel', '?')}), "
          f"{report.get('started', '')}, {report.get('wall_s', 0):.0f} s.\n\n")
    s += f"Availability (requests answered right, replayed or not, of all made): {report.get('availability')}\n\n"
    if report.get("fsck"):
        fk = report["fsck"]
        s += f"e2fsck -fn after each segment: {fk['clean']} of {fk['images']} images clean.\n\n"
    for title, t in report_tables(report):
        s += f"## {title}\n\n{t}\n"
    for p in report.get("plots", []):
        if p.endswith(".png"):
            s += f"![{p}]({p})\n\n"
    return s


def report_html(d, report):
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report['study']['name'])}</title>",
             "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #999;padding:2px 8px;text-align:right}</style></head><body>",
             f"<h1>Robustness study: {html.escape(report['study']['name'])}</h1>",
             f"<p>Seed {report['seed']}, {len(report['injections'])} injections; availability {report.get('availability')}</p>"]
    for title, t in report_tables(report):
        parts.append(f"<h2>{html.escape(title)}</h2><table>")
        for i, line in enumerate(l for l in t.strip().split("\n") if not l.startswith("|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tag = "th" if i == 0 else "td"
            parts.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
        parts.append("</table>")
    for p in report.get("plots", []):
        if p.endswith(".svg"):
            with open(os.path.join(d, p), encoding="utf-8") as f:
                svg = f.read()
            svg = svg[svg.find("<svg"):]
            parts.append(f"<h2>{html.escape(p)}</h2>{svg}")
    parts.append("</body></html>\n")
    return "\n".join(parts)

# ---- plots (gnuplot) --------------------------------------------------------------------


def make_plots(d, report, rows, sampled=None):
    gp = shutil.which("gnuplot")
    if not gp:
        print(f"{PROG}: gnuplot not found: no plots (apt-get install gnuplot-nox)", file=sys.stderr)
        report["plots_missing"] = "gnuplot not found"
        return []
    data = os.path.join(d, "plotdata")
    os.makedirs(data, exist_ok=True)
    made = []
    # 1. recovery-time CDF per fault type
    per = {}
    for r in report["injections"]:
        if "restart_ms" in r:
            per.setdefault(r["fault"], []).append(r["restart_ms"])
    cdf = []
    for i, (fault, v) in enumerate(sorted(per.items())):
        fn = os.path.join(data, f"cdf{i}.dat")
        with open(fn, "w") as f:
            for k, x in enumerate(sorted(v)):
                f.write(f"{x} {(k + 1) / len(v)}\n")
        cdf.append(f"'{fn}' using 1:2 with steps title '{fault}'")
    # 2. outcome shares per fault type and policy
    outs = sorted({o for v in report["outcomes"].values() for o in v})
    fn_out = os.path.join(data, "outcomes.dat")
    with open(fn_out, "w") as f:
        f.write("key " + " ".join(outs) + "\n")
        for k, v in report["outcomes"].items():
            tot = sum(v.values()) or 1
            f.write('"' + k.replace(" / ", "/") + '" ' + " ".join(f"{100 * v.get(o, 0) / tot:.2f}" for o in outs) + "\n")
    # 3. latency over time, injections marked
    lat = []
    marks = []
    if rows:
        t0 = min(q["t_send"] for q in rows)
        for p in sorted({q["policy"] for q in rows}):
            fn = os.path.join(data, f"lat-{len(lat)}.dat")
            mine = [q for q in rows if q["policy"] == p and q["class"] != "lost"]
            # At most about 8,000 points in all (an SVG of a million is no
            # plot): every Kth request, and every one that did not end correct.
            npol = len({q["policy"] for q in rows})
            stride = max(1, len(mine) * npol // 8000)
            with open(fn, "w") as f:
                for k, q in enumerate(mine):
                    if k % stride == 0 or q["class"] != "correct":
                        f.write(f"{q['t_send'] - t0:.4f} {q['latency_us'] / 1000:.3f}\n")
            lat.append(f"'{fn}' using 1:2 with dots title 'latency ({p})"
                       + (f", 1 in {stride} shown" if stride > 1 else "") + "'")
        marks = [r["t_fire"] - t0 for r in report["injections"] if "t_fire" in r]
    for kind, ext in (("pngcairo size 900,500", "png"), ("svg size 900,500 dynamic", "svg")):
        script = [f"set terminal {kind}", "set grid", "set key outside right"]
        if cdf:
            script += [f"set output '{d}/recovery-cdf.{ext}'", "set title 'Recovery time (fault fired -> server ready)'",
                       "set xlabel 'ms'", "set ylabel 'share of injections'", "set yrange [0:1]",
                       "plot " + ", ".join(cdf)]
        script += ["set yrange [0:100]", f"set output '{d}/outcomes.{ext}'", "set title 'Outcome of injections'",
                   "set style data histograms", "set style histogram rowstacked", "set style fill solid border -1",
                   "set boxwidth 0.7", "set xtics rotate by -30", "set ylabel '% of injections'", "unset xlabel",
                   "plot " + ", ".join(f"'{fn_out}' using {i + 2}:xtic(1) title '{o}'" for i, o in enumerate(outs))
                   if outs else "plot 0 notitle", "unset style", "set xtics norotate", "set autoscale y"]
        if lat:
            title = "Latency over time, injections marked" + (
                f" ({sampled} of {req_total(report)} requests shown)" if sampled and sampled < req_total(report) else "")
            script += [f"set output '{d}/latency.{ext}'", f"set title '{title}'",
                       "set xlabel 's'", "set ylabel 'ms'", "set logscale y", "set style data points"]
            script += [f"set arrow from {m:.4f}, graph 0 to {m:.4f}, graph 1 nohead lc rgb '#cc0000' lw 0.5"
                       for m in marks[:2000]]
            script += ["plot " + ", ".join(lat), "unset logscale y", "unset arrow"]
        r = subprocess.run([gp], input="\n".join(script) + "\n", text=True, capture_output=True, check=False)
        if r.returncode != 0:
            print(f"{PROG}: gnuplot: {r.stderr.strip()[:500]}", file=sys.stderr)
        for name in ("recovery-cdf", "outcomes", "latency"):
            fn = f"{name}.{ext}"
            if os.path.exists(os.path.join(d, fn)) and os.path.getsize(os.path.join(d, fn)) > 0:
                made.append(fn)
    shutil.rmtree(data, ignore_errors=True)
    return made

# ---- run ---------------------------------------------------------------------------------


def machine():
    u = platform.uname()
    return {"node": u.node, "kernel": u.release, "arch": u.machine, "cpus": os.cpu_count(),
            "python": platform.python_version()}


def commit():
    try:
        out = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                             text=True, check=False, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def empty_counts():
    return {c: 0 for c in CLASSES}


SEGMENT = 50   # injections of one policy per antd session: a crash loses at most these


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def run_segment(study, policy, entries, bins, segdir, seed, prog, stopped, seg):
    """One antd session: its injections, analysed; what it leaves in segdir is all a
    report needs (segment.json, requests.csv.gz), so a crash later loses nothing of it."""
    results, events, cnt = run_policy(study, policy, entries, bins, segdir, seed, prog, stopped, seg)
    rows = read_requests(os.path.join(segdir, "requests.csv"), policy)
    analyse(results, events, rows)
    pc = empty_counts()
    for q in rows:
        pc[q["class"]] += 1
    with gzip.open(os.path.join(segdir, "requests.csv.gz"), "wt", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(REQ_COLS)
        for q in rows:
            w.writerow([q.get(c, "") for c in REQ_COLS])
    os.unlink(os.path.join(segdir, "requests.csv"))
    shutil.rmtree(os.path.join(segdir, "run"), ignore_errors=True)
    write_json(os.path.join(segdir, "segment.json"), {"policy": policy, "results": results, "counters": cnt,
                                                      "counts": pc})
    prog.finish(seg, pc)
    return results


_antd_version = {}


def antd_version(bins):
    """antd --version, asked once per run (a report is rebuilt after every segment)."""
    if bins["antd"] not in _antd_version:
        try:
            v = subprocess.run([bins["antd"], "--version"], capture_output=True, text=True).stdout.strip()
        except OSError as e:
            v = f"unknown ({e.strerror})"
        _antd_version[bins["antd"]] = v
    return _antd_version[bins["antd"]]


def build_report(out, man, study, sched, bins, final, plots):
    """The report of every segment done so far (partial until the schedule is)."""
    results, counters, per_policy, fsck = [], {}, {}, []
    parts = []
    for seg in man["done"]:
        d = os.path.join(out, "work", f"seg-{seg}")
        with open(os.path.join(d, "segment.json"), encoding="utf-8") as f:
            sj = json.load(f)
        results += sj["results"]
        pc = per_policy.setdefault(sj["policy"], empty_counts())
        for c in CLASSES:
            pc[c] += sj["counts"].get(c, 0)
        for srv, v in sj["counters"].items():
            if srv == "_fsck":
                fsck.append(dict(v, segment=seg, policy=sj["policy"]))
                continue
            for k, x in v.items():
                counters.setdefault(srv, {}).setdefault(k, 0)
                counters[srv][k] += x
        parts.append(os.path.join(d, "requests.csv.gz"))
    for pc in per_policy.values():
        pc["total"] = sum(pc[c] for c in CLASSES)
        pc["availability"] = round((pc["correct"] + pc["correct_after_replay"]) / pc["total"], 6) if pc["total"] else None
    results.sort(key=lambda e: e["index"])
    req = {c: sum(pc[c] for pc in per_policy.values()) for c in CLASSES}
    study_clean = {k: v for k, v in study.items() if not k.startswith("_")}
    report = {"format": FORMAT, "version": FORMAT_VERSION, "study": study_clean, "study_file": man["study_file"],
              "seed": man["seed"], "shard": man["shard"], "partial": len(results) < len(sched),
              "schedule": [{k: e[k] for k in ("index", "injection", "policy", "fault", "server", "trigger", "upgrade") if k in e}
                           for e in sched],
              "versions": {"antd": antd_version(bins)},
              "commit": commit(), "machine": machine(), "started": man["started"], "wall_s": round(man["wall_s"], 3),
              "requests": req, "per_policy": per_policy, "injections": results, "counters": counters}
    if fsck:
        report["fsck"] = {"images": len(fsck), "clean": sum(1 for f in fsck if f["clean"]), "each": fsck}
    summarise(report)
    if final:
        rows = join_requests(parts, os.path.join(out, "requests.csv.gz"), req_total(report),
                             req_total(report) - report["requests"]["correct"])
        write_outputs(out, report, rows, plots=plots, sample=True)
    else:
        # As it goes: the numbers, not the plots or the requests (written once, at the end).
        with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
            f.write(report_md(report))
    return report


def cmd_run(a):
    bins = binaries()
    man = None
    if a.resume:
        mpath = os.path.join(a.resume, "work", "manifest.json")
        try:
            with open(mpath, encoding="utf-8") as f:
                man = json.load(f)
        except (OSError, ValueError) as e:
            die(f"--resume {a.resume}: not a study's folder ({mpath}: {e})", 2)
        if man.get("complete"):
            die(f"--resume {a.resume}: that run is complete (its report is {a.resume}/report.json)", 2)
        if a.study and os.path.abspath(a.study) != man["study_file"]:
            die(f"--resume {a.resume}: that run is of {man['study_file']}, not {a.study}", 2)
        if a.seed is not None or a.shard or a.out:
            die("--resume takes the seed, the shard and the folder of the run it continues", 2)
        a.study, a.out = man["study_file"], a.resume
    if not a.study:
        die("run: a study file (or --resume DIR)", 2)
    try:
        study = load_study(a.study, bins)
    except StudyError as e:
        die(str(e), 2)
    if man and sha256_of(a.study) != man["study_sha256"]:
        die(f"--resume {a.resume}: {a.study} changed since the run began: its schedule would not be the same", 2)
    seed = man["seed"] if man else a.seed if a.seed is not None else study.get("seed", 1)
    shard = man["shard"] if man else a.shard
    sched = schedule(study, seed)
    if shard:
        try:
            k, n = (int(x) for x in shard.split("/"))
            if not 1 <= k <= n:
                raise ValueError
        except ValueError:
            die(f"--shard: expected K/N with 1 <= K <= N, got '{shard}'", 2)
        sched = shard_of(sched, k, n)
    out = a.out or f"campaign-{study['name']}-{seed}" + (f"-shard{shard.replace('/', 'of')}" if shard else "")
    os.makedirs(os.path.join(out, "work"), exist_ok=True)
    if not man:
        if os.path.exists(os.path.join(out, "work", "manifest.json")):
            die(f"{out} holds a run already: --resume {out} continues it, or choose another -o", 2)
        man = {"study_file": os.path.abspath(a.study), "study_sha256": sha256_of(a.study), "seed": seed,
               "shard": shard, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "wall_s": 0.0, "done": [], "next": 1}
    mpath = os.path.join(out, "work", "manifest.json")
    write_json(mpath, man)
    # A run killed in the middle of a segment left its antd running: stop it.
    for name in os.listdir(os.path.join(out, "work")):
        d = os.path.join(out, "work", name)
        if name.startswith("seg-") and name[4:].isdigit() and int(name[4:]) not in man["done"]:
            if os.path.exists(os.path.join(d, "run", "antd.pid")):
                try:
                    ctl(os.path.join(d, "run"), {"cmd": "shutdown", "timeout_ms": 1000})
                    wait_until(lambda: not os.path.exists(os.path.join(d, "run", "antd.pid")), 10)
                except OSError:
                    pass
            shutil.rmtree(d, ignore_errors=True)
    # ... and the stack variants of runners that are gone.
    sdir = os.path.dirname(study["_stack_path"])
    for name in os.listdir(sdir):
        parts = name.split("-")
        if name.startswith(".campaign-") and len(parts) > 2 and parts[1].isdigit():
            try:
                os.kill(int(parts[1]), 0)
            except ProcessLookupError:
                try:
                    os.unlink(os.path.join(sdir, name))
                except OSError:
                    pass
            except PermissionError:
                pass
    done_idx = set()
    for seg in man["done"]:
        with open(os.path.join(out, "work", f"seg-{seg}", "segment.json"), encoding="utf-8") as f:
            done_idx |= {r["index"] for r in json.load(f)["results"]}
    todo = [e for e in sched if e["index"] not in done_idx]
    segs = []
    for policy in study["policies"]:
        es = [e for e in todo if e["policy"] == policy]
        for i in range(0, len(es), SEGMENT):
            segs.append((policy, es[i:i + SEGMENT]))
    prog = Progress(len(sched), len(done_idx), a.quiet)
    stopped = {"now": False}
    lock = threading.Lock()
    t0 = time.time()
    errors = []

    def on_int(sig, frm):
        stopped["now"] = True
    old_int = signal.signal(signal.SIGINT, on_int)
    old_term = signal.signal(signal.SIGTERM, on_int)

    def one(policy, entries):
        if stopped["now"] or errors:
            return
        with lock:
            seg = man["next"]
            man["next"] += 1
        segdir = os.path.join(out, "work", f"seg-{seg}")
        shutil.rmtree(segdir, ignore_errors=True)
        try:
            run_segment(study, policy, entries, bins, segdir, seed, prog, stopped, seg)
        except StudyError as e:
            errors.append(str(e))
            return
        except OSError as e:
            # A binary replaced under a running study (a rebuild), a full
            # disk...: stop every worker, keep what is done (--resume goes on).
            errors.append(f"segment {seg}: {e}")
            return
        with lock:
            man["done"].append(seg)
            write_json(mpath, man)
            try:
                build_report(out, man, study, sched, bins, final=False, plots=False)
            except OSError as e:
                errors.append(f"the partial report after segment {seg}: {e}")

    try:
        jobs = max(1, a.jobs)
        if jobs == 1:
            for policy, entries in segs:
                one(policy, entries)
        else:
            queue = list(segs)

            def worker():
                while True:
                    with lock:
                        item = queue.pop(0) if queue else None
                    if item is None:
                        return
                    one(*item)
            pool = [threading.Thread(target=worker) for _ in range(jobs)]
            for t in pool:
                t.start()
            for t in pool:
                while t.is_alive():
                    t.join(0.2)
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        prog.end()
        man["wall_s"] += time.time() - t0
        write_json(mpath, man)
    if errors:
        die(errors[0] + f" (what is done is kept: {PROG} run --resume {out} goes on)")
    report = build_report(out, man, study, sched, bins, final=True, plots=not a.no_plots)
    if not report["partial"]:
        # Done: the segments' files are in the report now; the manifest stays
        # (a new run into DIR is refused, a resume says it is complete).
        for seg in man["done"]:
            shutil.rmtree(os.path.join(out, "work", f"seg-{seg}"), ignore_errors=True)
        man["complete"] = True
        write_json(mpath, man)
    if not a.quiet:
        rq = report["requests"]
        print(f"{out}: {len(report['injections'])} injections, {rq['total']} requests: "
              + ", ".join(f"{rq[c]} {c}" for c in CLASSES)
              + (f" (PARTIAL: {len(report['injections'])} of {len(sched)} injections; "
                 f"{PROG} run --resume {out} goes on)" if report["partial"] else ""))
    return 130 if stopped["now"] else 0

# ---- merge, compare -------------------------------------------------------------------------


def read_report(d):
    try:
        with open(os.path.join(d, "report.json"), encoding="utf-8") as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{d}: no report ({e})")
    if r.get("format") != FORMAT:
        die(f"{d}/report.json: not an {FORMAT}")
    return r


def cmd_merge(a):
    reps = [read_report(d) for d in a.dirs]
    first = reps[0]
    for d, r in zip(a.dirs, reps):
        if r["study"] != first["study"] or r["seed"] != first["seed"]:
            die(f"{d}: another study or seed than {a.dirs[0]}: shards of one run only", 2)
    seen = {}
    for r in reps:
        for e in r["schedule"]:
            if e["index"] in seen:
                die(f"the shards overlap (injection {e['index']} twice)", 2)
            seen[e["index"]] = e
    report = dict(first)
    report["shard"] = None
    report["merged_from"] = [os.path.abspath(d) for d in a.dirs]
    report["schedule"] = [seen[k] for k in sorted(seen)]
    report["injections"] = sorted((i for r in reps for i in r["injections"]), key=lambda e: e["index"])
    report["requests"] = {c: sum(r["requests"][c] for r in reps) for c in CLASSES}
    report["partial"] = any(r.get("partial") for r in reps)
    report["wall_s"] = max(r.get("wall_s", 0) for r in reps)
    pp = {}
    for r in reps:
        for p, v in r.get("per_policy", {}).items():
            acc = pp.setdefault(p, empty_counts())
            for c in CLASSES:
                acc[c] += v[c]
    for v in pp.values():
        v["total"] = sum(v[c] for c in CLASSES)
        v["availability"] = round((v["correct"] + v["correct_after_replay"]) / v["total"], 6) if v["total"] else None
    report["per_policy"] = pp
    cnt = {}
    for r in reps:
        for s, v in r.get("counters", {}).items():
            for k, x in v.items():
                cnt.setdefault(s, {}).setdefault(k, 0)
                cnt[s][k] += x
    report["counters"] = cnt
    summarise(report)
    os.makedirs(a.out, exist_ok=True)
    parts = [os.path.join(d, "requests.csv.gz") for d in a.dirs
             if os.path.exists(os.path.join(d, "requests.csv.gz"))]
    rows = join_requests(parts, os.path.join(a.out, "requests.csv.gz"), req_total(report),
                         req_total(report) - report["requests"]["correct"])
    write_outputs(a.out, report, rows, plots=not a.no_plots, sample=True)
    print(f"{a.out}: {len(report['injections'])} injections from {len(reps)} shards, "
          f"{report['requests']['total']} requests")
    return 0


def cmd_compare(a):
    r1, r2 = read_report(a.dir1), read_report(a.dir2)
    n1, n2 = os.path.basename(os.path.normpath(a.dir1)), os.path.basename(os.path.normpath(a.dir2))
    rows = [[c, r1["requests"][c], r2["requests"][c]] for c in CLASSES]
    rows += [["total", r1["requests"]["total"], r2["requests"]["total"]],
             ["availability", r1.get("availability"), r2.get("availability")],
             ["injections", len(r1["injections"]), len(r2["injections"])]]
    keys = sorted(set(r1["recovery_ms"]) | set(r2["recovery_ms"]))
    rec = [[k, (r1["recovery_ms"].get(k) or {}).get("p50"), (r2["recovery_ms"].get(k) or {}).get("p50"),
            (r1["recovery_ms"].get(k) or {}).get("p99"), (r2["recovery_ms"].get(k) or {}).get("p99")] for k in keys]
    print(table(["", n1, n2], rows))
    print(table(["recovery (ms)", f"p50 {n1}", f"p50 {n2}", f"p99 {n1}", f"p99 {n2}"], rec))
    return 0


def main(argv):
    if argv and argv[0] == "slurm":
        # A cluster engine's part lives in its own program (ant-campaign-slurm).
        prog = find_binary("ant-campaign-slurm", os.path.join(HERE, "ant-campaign-slurm"))
        os.execv(prog, [prog] + argv[1:])
    p = argparse.ArgumentParser(prog=PROG, description="Robustness studies: a study file in, a report out.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("slurm", help="run a study's shards as a Slurm job array, then merge (ant-campaign slurm --help)")
    r = sub.add_parser("run", help="run a study")
    r.add_argument("study", nargs="?", help="the study file (JSON)")
    r.add_argument("-o", "--out", help="the report's folder (default campaign-NAME-SEED)")
    r.add_argument("--seed", type=int, help="the schedule's seed (default: the study's, else 1)")
    r.add_argument("--shard", help="run the K-th of N disjoint parts of the schedule (K/N)")
    r.add_argument("--quiet", action="store_true", help="no progress line, no summary")
    r.add_argument("--no-plots", action="store_true", help="no gnuplot plots")
    r.add_argument("--jobs", type=int, default=1, help="run J parts of the schedule at once, each with an antd "
                   "of its own (default 1: on a small machine more distort the timings)")
    r.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR, with its schedule")
    m = sub.add_parser("merge", help="join the reports of shards into one")
    m.add_argument("dirs", nargs="+")
    m.add_argument("-o", "--out", required=True)
    m.add_argument("--no-plots", action="store_true")
    c = sub.add_parser("compare", help="two studies side by side")
    c.add_argument("dir1")
    c.add_argument("dir2")
    s = sub.add_parser("schedule", help="print a study's fault schedule (JSON) and exit")
    s.add_argument("study")
    s.add_argument("--seed", type=int)
    s.add_argument("--shard")
    a = p.parse_args(argv)
    if a.cmd == "run":
        return cmd_run(a)
    if a.cmd == "merge":
        return cmd_merge(a)
    if a.cmd == "compare":
        return cmd_compare(a)
    if a.cmd == "schedule":
        bins = binaries()
        try:
            study = load_study(a.study, bins)
        except StudyError as e:
            die(str(e), 2)
        sched = schedule(study, a.seed if a.seed is not None else study.get("seed", 1))
        if a.shard:
            k, n = (int(x) for x in a.shard.split("/"))
            sched = shard_of(sched, k, n)
        json.dump(sched, sys.stdout, indent=1)
        print()
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
