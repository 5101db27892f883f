#!/usr/bin/env python3
"""check-bench.py - ant-bench runs end to end, its JSON has the promised keys and sane figures,
its progress goes to stderr only, and a target's line names the target and the floor."""
import json
import math
import os
import re
import shutil
import subprocess
import sys

bench = sys.argv[1]


def run(*args):
    p = subprocess.run([bench, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}")
        sys.exit(1)
    print(f"ok: {what}")


def progress_lines(err, what, unit):
    """stderr's progress lines of one step: [(done, total), ...]."""
    pat = re.compile(rf"^ant-bench: {re.escape(what)}: (\d+)/(\d+) {unit}, [\d.]+ s$")
    return [(int(m[1]), int(m[2])) for m in map(pat.match, err.splitlines()) if m]


def close(a, b, rel=0.01):
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.15)


rc, out, err = run("chain", "--depth", "3", "--return", "direct", "--iterations", "1000",
                   "--warmup", "100", "--json")
check(rc == 0, f"direct run exits 0 ({err.strip()})")
o = json.loads(out)
for k in ("median_ns", "p99_ns", "median_tsc", "floor_median_ns", "ratio_to_floor", "depth"):
    check(k in o, f"--json has {k}")
check(o["p99_ns"] >= o["median_ns"] > o["floor_median_ns"] > 0, "p99 >= median > floor > 0")
check("ant-bench: chain:" not in err and "starting antd" not in err,
      "no progress when stderr is not a terminal and --progress is not given")

rc, out, err = run("chain", "--depth", "3", "--return", "both", "--iterations", "1000",
                   "--warmup", "100", "--json")
check(rc == 0, f"both run exits 0 ({err.strip()})")
o = json.loads(out)
check(o["direct"]["median_ns"] < o["sequential"]["median_ns"],
      "direct return is faster than sequential (two fewer returns)")

rc, out, err = run("chain", "--depth", "2", "--return", "sequential", "--iterations", "200")
check(rc == 0 and "x floor" in out and "AnT paper" in out, "table output")

rc, out, err = run("chain", "--depth", "3", "--iterations", "2000", "--warmup", "100",
                   "--churn", "2", "--json", "--progress")
check(rc == 0, f"chain --churn 2 exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
check(True, "--progress leaves --json's stdout one JSON object")
for what, total in (("chain", 2 * 2100), ("chain under churn", 2000),
                    ("chain, churn outside antd", 2000)):
    lines = progress_lines(err, what, "calls")
    check(3 <= len(lines) <= 12 and lines[-1] == (total, total)
          and all(t == total for _, t in lines),
          f"--progress: '{what}' has a line per tenth on stderr, ending at {total}/{total} "
          f"({len(lines)} lines)")
check("\r" not in err and "\033" not in err, "--progress on a non-terminal writes whole lines")
check("ant-bench: starting antd and 5 servers" in err and "ant-bench: stopping antd" in err,
      "--progress says when antd starts and stops")
c = o.get("churn", {})
for k in ("median_ns", "p99_ns", "restarts", "p99_ratio", "servers"):
    check(k in c, f"--churn --json has churn.{k}")
for k in ("median_ns", "p99_ns", "floor_median_ns"):
    check(k in o, f"--churn --json still has {k}")
check(c["servers"] == 2, "churn.servers is 2")
check(c["restarts"] >= 1, f"at least one restart during the timed calls ({c['restarts']})")
check(0 < c["median_ns"] <= c["p99_ns"], "churn: 0 < median <= p99")
out_ = c.get("outside", {})
for k in ("median_ns", "p99_ns", "processes"):
    check(k in out_, f"--churn --json has churn.outside.{k} (the same process churn, no antd)")
check(out_.get("processes", 0) >= 1, "processes were started outside antd during the floor run")
check(c.get("run_ns", 0) > 0 and out_.get("run_ns", 0) > 0,
      "both timed churn runs say how long they took (run_ns)")
# The floor keeps antd's restart rate: its process count follows its run's length.
rate = c["restarts"] / c["run_ns"]
check(out_["processes"] <= rate * out_["run_ns"] + 2,
      f"the floor starts no more processes than antd's rate allows "
      f"({out_['processes']} in {out_['run_ns'] / 1e9:.2f} s at {rate * 1e9:.1f}/s)")
loop = c.get("antd_loop", {})
for k in ("wakeups", "over_1ms", "over_10ms", "busy_max_us"):
    check(k in loop, f"--churn --json has churn.antd_loop.{k}")
check(loop.get("wakeups", 0) > 0, "antd's wake-ups during the churn are counted")
# Not asserted: the machine is noisy.
print(f"info: p99 with churn / without: {c['p99_ratio']:.2f} "
      f"({c['p99_ns'] / 1e3:.1f} us / {o['p99_ns'] / 1e3:.1f} us, {c['restarts']} restarts); "
      f"with churn / with the same churn outside antd: {c.get('p99_ratio_outside', 0):.2f}; "
      f"antd wake-ups over 1 ms: {loop.get('over_1ms')} of {loop.get('wakeups')}")

rc, out, err = run("chain", "--churn", "0")
check(rc == 2 and "--churn" in err, "chain --churn 0 is a usage error naming it")

# --trace: eBPF attributes each traced call's time to the processes and hops of the
# chain; without root, kernel BTF or an ant-bench built with eBPF it says why on
# stderr, and the bench runs without it, exit status unchanged.
def trace_refused(rc, out, err, who):
    o = json.loads(out) if rc == 0 else {}
    check(rc == 0 and o.get("trace", 1) is None and o.get("sequential", {}).get("median_ns", 0) > 0,
          f"{who}: chain --trace exits 0 with \"trace\": null and the bench's figures ({err.strip()[-500:]})")
    check("ant-bench: --trace: " in err and "runs without it" in err and any(
          w in err for w in ("needs root", "tracing not built", "no BTF", "eBPF")),
          f"{who}: --trace says why it cannot trace: {err.strip()}")


trace_args = ("chain", "--depth", "3", "--return", "both", "--iterations", "200", "--warmup", "20",
              "--trace", "--json")
rc, out, err = run(*trace_args)
check(rc == 0, f"chain --trace exits 0 ({err.strip()[-2000:]})")
tr = json.loads(out).get("trace")
if tr is None:
    trace_refused(rc, out, err, "here")
else:
    check(tr.get("modes") == ["sequential", "direct"] and tr.get("calls") == 200 and tr["lost"] == 0,
          "trace: both modes, 200 calls each, no event lost")
    for mode, implied in (("sequential", 12), ("direct", 8)):
        m, who = tr[mode], f"trace {mode}"
        procs = m.get("processes", {})
        check(all(procs.get(p, {}).get("wakeups_per_call", 0) > 0 for p in ("antd", "relay1")),
              f"{who}: antd and relay1 are woken during the calls (wake-ups per call > 0)")
        check(all(procs.get(p, {}).get("cpu_median_ns", 0) > 0 for p in ("app", "antd", "relay1")),
              f"{who}: app, antd and relay1 spend time on a CPU per call")
        check(m["messages_implied"] == implied, f"{who}: the path implies {implied} messages")
        if m["messages_per_call"] is not None:   # the kernel has sock_send_length (6.3)
            check(abs(m["messages_per_call"] - implied) < 0.5 and len(m["path"]["hops"]) == implied
                  and m["path"]["hops"][0]["from"] == "app" and m["path"]["hops"][-1]["to"] == "app",
                  f"{who}: {implied} messages per call, app -> antd ... -> app "
                  f"({m['messages_per_call']:.2f}, the usual path has {len(m['path']['hops'])} hops)")
        check(0 < m["wakeups_per_call"] <= implied + 1, f"{who}: at most one wake-up per message "
              f"(and strays): {m['wakeups_per_call']:.2f}")
        print(f"info: {who}: median {m['call_median_ns'] / 1e3:.1f} us traced, "
              f"{m['wakeups_per_call']:.2f} wake-ups per call; on CPU per call: " + ", ".join(
                  f"{p} {v['cpu_median_ns'] / 1e3:.1f} us" for p, v in procs.items()))
    # The same run as nobody cannot load eBPF: it says so and runs (if nobody can run it here).
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and setpriv:
        p = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                            os.path.abspath(bench), *trace_args],
                           capture_output=True, text=True, timeout=120, cwd="/")
        if p.returncode == 0 or "--trace" in p.stderr:
            trace_refused(p.returncode, p.stdout, p.stderr, "as nobody")
        else:
            print(f"info: not run as nobody here ({p.stderr.strip()[-300:]})")

rc, out, err = run("failover", "--kills", "20", "--both", "--json", "--progress")
check(rc == 0, f"failover --both run exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
check(True, "--progress leaves failover --json's stdout one JSON object")
for mode in ("cold", "warm"):
    lines = progress_lines(err, f"failover {mode}", "kills")
    check(3 <= len(lines) <= 12 and lines[-1] == (20, 20),
          f"--progress: failover {mode} counts its kills on stderr ({len(lines)} lines)")
check(o.get("benchmark") == "failover" and o.get("kills") == 20, "failover --json names itself and the kills")
t = o.get("targets", {})
check(t == {"cold_median_us": 3000, "warm_median_us": 500, "p99_us": 10000}, "failover --json has the targets")
for mode in ("cold", "warm"):
    m = o.get(mode, {})
    for k in ("median_us", "p99_us", "max_us", "meets_targets", "floor", "target_results"):
        check(k in m, f"failover --json {mode} has {k}")
    check(isinstance(m["meets_targets"], bool), f"{mode} meets_targets is a bool")
    check(0 < m["median_us"] <= m["p99_us"] <= m["max_us"], f"{mode}: 0 < median <= p99 <= max")
    check(m.get("restarts") == 20 and m.get("replays") == 20,
          f"{mode}: antd counts 20 restarts and 20 replays")
    fl = m["floor"]
    check(fl.get("samples") == 20 and 0 < fl.get("median_us", 0) <= fl.get("p99_us", 0),
          f"{mode}: the floor has 20 samples, 0 < median <= p99 ({fl})")
    res = m["target_results"]
    check([r.get("stat") for r in res] == ["median", "p99"], f"{mode}: a result for median and p99")
    want = {"median": t[f"{mode}_median_us"], "p99": t["p99_us"]}
    for r in res:
        st = r["stat"]
        for k in ("value_us", "target_us", "met", "floor", "floor_us", "ratio_to_floor",
                  "target_ratio_to_floor", "floor_needed_us"):
            check(k in r, f"{mode} {st}: target_results has {k}")
        check(r["value_us"] == m[f"{st}_us"] and r["target_us"] == want[st],
              f"{mode} {st}: the value and the target are the mode's")
        check(r["met"] is (r["value_us"] <= r["target_us"]),
              f"{mode} {st}: met == value <= target ({r['value_us']} us, {r['target_us']} us)")
        check(r["floor"] == fl["name"] and r["floor_us"] == fl[f"{st}_us"],
              f"{mode} {st}: the floor is the mode's ({r['floor']}, {r['floor_us']} us)")
        check(close(r["ratio_to_floor"], r["value_us"] / r["floor_us"])
              and close(r["target_ratio_to_floor"], r["target_us"] / r["floor_us"])
              and close(r["floor_needed_us"], r["target_us"] / r["ratio_to_floor"]),
              f"{mode} {st}: the ratios are value/floor and target/floor, "
              f"floor_needed is target/ratio ({r['ratio_to_floor']:.2f}x)")
    check(m["meets_targets"] is all(r["met"] for r in res), f"{mode}: meets_targets == every target met")
    print(f"info: failover {mode}: " + "; ".join(
        f"{r['stat']} {r['value_us']} us {'met' if r['met'] else 'MISSED'} {r['target_us']} us, "
        f"{r['ratio_to_floor']:.1f}x {r['floor']} ({r['floor_us']} us)" for r in res))
check(o["cold"]["floor"]["name"] != o["warm"]["floor"]["name"], "cold and warm have floors of their own")
check(o["cold"].get("failovers") == 0 and o["warm"].get("failovers") == 20,
      "cold restarts fail over never, warm standby every time")

# The table: a line per target, met or MISSED, naming the target and the floor;
# a MISSED one also says where the ratio would meet it.  The last of --progress
# and --quiet wins.
rc, out, err = run("failover", "--kills", "10", "--both", "--progress", "--quiet")
check(rc == 0, f"failover table run exits 0 ({err.strip()[-2000:]})")
check("kills," not in err and "starting antd" not in err, "--quiet after --progress: no progress")
dur = r"[\d.]+ (?:us|ms)"
line = re.compile(rf"^  (cold restart|warm standby) (median|p99) {dur} (met|MISSED) target {dur}: "
                  rf"[\d.]+x floor \((fork\+exec\+exit of echo|SIGKILL to pidfd readable of a child): "
                  rf"(?:median|p99) {dur} in this run; the target is [\d.]+x it"
                  rf"(, below the floor: out of reach here)?"
                  rf"(; at [\d.]+x it holds only where that floor is <= {dur})?\)$")
rows = [line.match(x) for x in out.splitlines() if " target " in x and "x floor" in x]
check(len(rows) == 4 and all(rows), f"four target lines, each naming its target and floor:\n{out}")
for r in rows:
    check((r[1] == "cold restart") == (r[4] == "fork+exec+exit of echo"), f"{r[1]}: its own floor")
    check((r[3] == "MISSED") == bool(r[6]), f"{r[1]} {r[2]}: {r[3]}, and says where it would hold "
          "exactly when MISSED")
print("info: " + "\n      ".join(r[0].strip() for r in rows))

rc, out, err = run("--help")
check(rc == 0 and "--quiet" in out and "--progress" in out and "MISSED" in out
      and "floor_needed_us" in out, "--help documents --quiet, --progress and how to read MISSED")

rc, out, err = run("upgrade", "--upgrades", "8", "--json", "--progress")
check(rc == 0, f"upgrade run exits 0: every call answered, none wrong ({err.strip()[-2000:]})")
o = json.loads(out)
check(True, "--progress leaves upgrade --json's stdout one JSON object")
u = o.get("upgrade", {})
for k in ("pause_median_us", "pause_p99_us", "pause_max_us", "target_p99_us", "met"):
    check(k in u, f"upgrade --json has upgrade.{k}")
check(o.get("upgrades") == 8 and o.get("errors") == 0 and o.get("wrong") == 0,
      "upgrade --json: 8 upgrades, no call failed or answered wrong")
check(0 <= u["pause_median_us"] <= u["pause_p99_us"] <= u["pause_max_us"] and
      u["met"] == (u["pause_p99_us"] <= u["target_p99_us"]), "upgrade: pauses ordered, met agrees")
check(o.get("chain_p99_us", 0) >= o.get("chain_median_us", 1) > 0, "upgrade: the chain's own median and p99")
for what, unit in (("upgrade", "upgrades"), ("re-exec of antd", "re-execs")):
    lines = progress_lines(err, what, unit)
    check(lines and lines[-1] == (8, 8), f"--progress: '{what}' counts its {unit} on stderr "
          f"({len(lines)} lines)")
check(isinstance(o.get("reexec"), dict), "upgrade --json measures the re-execs of antd")
x = o["reexec"]
for k in ("pause_median_us", "pause_p99_us", "pause_max_us", "target_p99_us", "met", "reexecs",
          "antd_pause_median_ms", "split_median_ms", "exec_floor_us", "ratio_to_floor"):
    check(k in x, f"upgrade --json has reexec.{k}")
for k in ("state_ms", "exec_ms", "take_over_ms"):
    check(k in x["split_median_ms"], f"upgrade --json has reexec.split_median_ms.{k}")
check(x["reexecs"] == 8, "reexec: 8 re-execs (as many as upgrades by default), every one through")
check(x["target_p99_us"] == 5000, "reexec: the target is a p99 of 5000 us")
check(0 <= x["pause_median_us"] <= x["pause_p99_us"] <= x["pause_max_us"] and
      x["met"] == (x["pause_p99_us"] <= x["target_p99_us"]), "reexec: pauses ordered, met agrees")
check(x["exec_floor_us"] > 0 and x["antd_pause_median_ms"] > 0, "reexec: the exec floor and antd's own pause")
check(close(x["ratio_to_floor"], x["pause_median_us"] / x["exec_floor_us"]),
      "reexec: ratio_to_floor is the median pause over the exec floor")
print(f"info: upgrade pause median {u['pause_median_us']:.0f} us, p99 {u['pause_p99_us']:.0f} us; "
      f"chain p99 {o['chain_p99_us']:.0f} us")
sp = x["split_median_ms"]
print(f"info: re-exec pause median {x['pause_median_us']:.0f} us, p99 {x['pause_p99_us']:.0f} us "
      f"({'met' if x['met'] else 'MISSED'} {x['target_p99_us']} us), {x['ratio_to_floor']:.1f}x the "
      f"exec floor ({x['exec_floor_us']:.0f} us); antd's own median {x['antd_pause_median_ms']:.2f} ms "
      f"(state {sp['state_ms']:.2f}, exec {sp['exec_ms']:.2f}, take-over {sp['take_over_ms']:.2f})")

rc, out, err = run("upgrade", "--upgrades", "3", "--reexecs", "0", "--json")
check(rc == 0 and json.loads(out).get("reexec", 1) is None, "upgrade --reexecs 0: \"reexec\": null")
rc, out, err = run("upgrade", "--upgrades", "3", "--reexecs", "2")
good = (rc == 0 and "3 upgrades of relay2 and 2 re-execs of antd" in out and "pause of a re-exec:" in out
        and "floor: an exec of this program" in out)
check(good, "upgrade --reexecs 2: the table has the re-execs" + ("" if good else f"\n{out}{err}"))
rc, out, err = run("upgrade", "--reexecs", "-1")
check(rc == 2 and "--reexecs" in err, "upgrade --reexecs -1 is a usage error naming it")

# floors: the machine's own IPC floors and the peers, side by side; a peer is
# measured or says why not (not built in, no dbus-daemon), never a made-up number.
rc, out, err = run("floors", "--iterations", "300", "--warmup", "30", "--kills", "10", "--json")
check(rc == 0, f"floors run exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
check(o.get("benchmark") == "floors" and o.get("iterations") == 300 and o.get("kills") == 10,
      "floors --json names itself, the iterations and the kills")
stat_keys = ("median_ns", "p99_ns", "median_tsc", "p99_tsc", "ratio_to_seqpacket")
groups = {"floors": ("pipe", "seqpacket", "futex", "kill", "spawn"), "peers": ("dbus", "zeromq")}
for group, keys in groups.items():
    check(sorted(o.get(group, {})) == sorted(keys), f"floors --json has {group}: {', '.join(keys)}")
    for k in keys:
        m = o[group][k]
        if group == "peers" and m.get("available") is False:
            check(isinstance(m.get("why"), str) and m["why"] and not any(x in m for x in stat_keys),
                  f"{group}.{k}: not available, says why, and has no figures ({m.get('why')})")
            print(f"info: {group}.{k}: not available: {m['why']}")
            continue
        check(m.get("available") is True and all(x in m for x in stat_keys),
              f"{group}.{k} is measured and has {', '.join(stat_keys)}")
        check(0 < m["median_ns"] <= m["p99_ns"], f"{group}.{k}: 0 < median <= p99")
        check(m["p99_tsc"] >= m["median_tsc"] >= 0, f"{group}.{k}: p99_tsc >= median_tsc")
        want = 10 if k in ("kill", "spawn") else 300
        check(m.get("samples") == want, f"{group}.{k}: {want} samples")
        check(close(m["ratio_to_seqpacket"], m["median_ns"] / o["floors"]["seqpacket"]["median_ns"]),
              f"{group}.{k}: ratio_to_seqpacket is its median over the SEQPACKET round trip's")
print("info: floors: " + "; ".join(
    f"{k} {m['median_ns'] / 1e3:.1f} us" if m.get("available") else f"{k} n/a"
    for g in groups for k, m in o[g].items()))
rc, out, err = run("floors", "--iterations", "100", "--warmup", "0", "--kills", "3", "--quiet")
check(rc == 0 and "x SEQPACKET" in out and "SIGKILL to pidfd readable" in out and "D-Bus" in out
      and "ZeroMQ" in out and err == "", "floors: the table, nothing on stderr with --quiet")
rc, out, err = run("floors", "--kills", "0")
check(rc == 2 and "--kills" in err, "floors --kills 0 is a usage error naming it")
rc, out, err = run("floors", "--antd", "x")
check(rc == 2 and "--antd" in err, "floors takes no --antd (it starts no stack)")

# data: a data ICA through the chain against copying as many bytes through a socket.
rc, out, err = run("data", "--sizes", "0,4K,1M,64M", "--iterations", "30", "--warmup", "3", "--json")
check(rc == 0, f"data run exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
check(o.get("benchmark") == "data" and [s["bytes"] for s in o.get("sizes", [])] == [0, 4096, 1 << 20, 64 << 20],
      "data --json names itself and every size asked for, in order")
for s in o["sizes"]:
    check(0 < s["ica"]["median_ns"] <= s["ica"]["p99_ns"], f"data {s['bytes']}: 0 < median <= p99")
    if s["bytes"]:
        c = s.get("socket_copy", {})
        check(0 < c.get("median_ns", 0) <= c.get("p99_ns", 0) and c.get("samples", 0) >= 10,
              f"data {s['bytes']}: the copy through a socket is timed, 10 samples at least")
        check(close(s["copy_over_ica"], c["median_ns"] / s["ica"]["median_ns"]),
              f"data {s['bytes']}: copy_over_ica is the copy's median over the call's")
    else:
        check("socket_copy" not in s, "data 0: no data ICA, nothing to copy")
d = o.get("data64m", {})
big, small = o["sizes"][3]["ica"]["median_ns"], o["sizes"][1]["ica"]["median_ns"]
check(close(d.get("over_4k", -1), big / small) and d.get("copy_over_ica", 0) > 1,
      "data64m.over_4k and copy_over_ica are there and agree with the rows")
# The relays touch no page: 64 MiB cannot cost what copying it does (16,384 pages).
check(d["copy_over_ica"] > 5, f"a 64 MiB data ICA is handed over, not copied ({d['copy_over_ica']:.1f}x)")
print(f"info: data: 4 KiB {small / 1e3:.1f} us, 64 MiB {big / 1e3:.1f} us ({d['over_4k']:.2f}x), "
      f"copy {d['copy_over_ica']:.0f}x slower")
plot = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"check-bench-{os.getpid()}.svg")
rc, out, err = run("data", "--sizes", "4K,1M", "--iterations", "10", "--warmup", "0", "--plot", plot, "--quiet")
made = os.path.exists(plot) and os.path.getsize(plot) > 0 and "<svg" in open(plot).read(4096)
if os.path.exists(plot):
    os.unlink(plot)
if shutil.which("gnuplot"):
    check(rc == 0 and made and "64 MiB over" not in out, "data --plot draws an SVG (and the table without 64M)")
else:
    check(rc == 1 and "gnuplot" in err, "data --plot without gnuplot fails saying so")
for bad in (("--sizes", "2G"), ("--sizes", "4Q"), ("--plot", "x.pdf")):
    rc, out, err = run("data", *bad)
    check(rc == 2 and bad[0] in err, f"data {' '.join(bad)} is a usage error naming {bad[0]}")

# load: calls per second with several apps at once, antd's CPU per call, memory.
rc, out, err = run("load", "--apps", "1,16", "--seconds", "0.3", "--inflight", "50", "--json")
check(rc == 0, f"load run exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
tp = o.get("throughput", {})
rows = {r["apps"]: r for r in tp.get("rows", [])}
check(sorted(rows) == [1, 16], "load --json has a row for 1 and for 16 apps")
for n, r in rows.items():
    check(r["calls"] > 0 and close(r["calls_per_s"], r["calls"] / r["seconds"]) and r["seconds"] >= 0.29,
          f"load {n} apps: calls counted over the window, calls_per_s agrees")
    check(r["antd_cpu_us_per_call"] >= 0, f"load {n} apps: antd's CPU per call")
check(close(tp.get("apps16_over_apps1", -1), rows[16]["calls_per_s"] / rows[1]["calls_per_s"]),
      "throughput.apps16_over_apps1 is the ratio of the rows")
m = o.get("memory", {})
check(m.get("antd_pss_kb", 0) > 0 and sorted(m.get("servers", {})) == ["holder", "relay1", "relay2", "relay3"]
      and all(v["pss_kb"] > 0 and v["rss_kb"] >= v["pss_kb"] for v in m["servers"].values()),
      "load: antd's and every server's memory (PSS <= RSS)")
check(m.get("inflight_calls") == 50 and m.get("antd_kb_per_call_in_flight", -1) >= 0,
      "load: antd's memory per call in flight, over 50 calls")
print(f"info: load: 1 app {rows[1]['calls_per_s']:.0f} calls/s, 16 apps {rows[16]['calls_per_s']:.0f}; "
      f"antd {rows[1]['antd_cpu_us_per_call']:.1f} us CPU per call, "
      f"{m['antd_kb_per_call_in_flight']:.2f} kB per call in flight")
rc, out, err = run("load", "--apps", "0")
check(rc == 2 and "--apps" in err, "load --apps 0 is a usage error naming it")

# all: every command once, the ratios of issue 15 by name, with targets and spread.
rc, out, err = run("all", "--quick", "--json")
check(rc == 0, f"all --quick exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)


def at(path):
    v = o
    for k in path.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    return v


keys = ("chain3.direct.ratio_to_floor", "chain3.sequential.ratio_to_floor", "chain3.direct_over_sequential",
        "depth1.over_dbus", "depth1.over_zeromq", "throughput.apps16_over_apps1", "data64m.over_4k",
        "data64m.copy_over_ica", "failover.warm.over_kill_floor", "failover.cold.over_spawn_and_kill_floor")
for k in keys:
    v = at(k)
    peer = k.startswith("depth1.")
    check(isinstance(v, float) and v > 0 or (peer and v is None),
          f"all --json: {k} is a number" + (" (or null: the peer is not built in)" if peer else ""))
    t = o["targets"].get(k)
    check(t is not None and ("at_most" in t or "at_least" in t), f"all --json: {k} has its target")
    if v is not None:
        bound = t.get("at_most", t.get("at_least"))
        check(t["met"] == (v <= bound if "at_most" in t else v >= bound), f"all --json: {k}: met agrees")
        s = o["spread"][k]
        check(s["min"] <= v <= s["max"] and s["values"] == [v], f"all --json: {k}: spread of one run")
d = o["details"][0]
check(close(at("chain3.direct.ratio_to_floor"), d["chain3"]["direct"]["ratio_to_floor"]),
      "all: chain3's ratio is the chain command's own")
if d["floors"]["peers"]["dbus"].get("available"):
    check(close(at("depth1.over_dbus"), d["chain1"]["direct"]["median_ns"] / d["floors"]["peers"]["dbus"]["median_ns"]),
          "all: depth1.over_dbus is the 1-relay call over the D-Bus call of the same run")
rc, out, err = run("all", "--runs", "0")
check(rc == 2 and "--runs" in err, "all --runs 0 is a usage error naming it")

# lanes: the fast path's design in the lab, beside the floor of the same run.
rc, out, err = run("lanes", "--depth", "2", "--iterations", "300", "--warmup", "30", "--json")
check(rc == 0, f"lanes run exits 0 ({err.strip()[-2000:]})")
o = json.loads(out)
for mode in ("sequential", "direct"):
    m = o.get(mode, {})
    check(0 < m.get("median_ns", 0) <= m.get("p99_ns", 0), f"lanes {mode}: 0 < median <= p99")
    check(close(m["ratio_to_floor"], m["median_ns"] / o["floor"]["median_ns"]),
          f"lanes {mode}: ratio_to_floor is its median over the SEQPACKET round trip's")
check(close(o["direct_over_sequential"], o["direct"]["median_ns"] / o["sequential"]["median_ns"]),
      "lanes: direct_over_sequential agrees")
print(f"info: lanes (2 relays): sequential {o['sequential']['ratio_to_floor']:.2f}x, "
      f"direct {o['direct']['ratio_to_floor']:.2f}x the SEQPACKET round trip")
rc, out, err = run("lanes", "--depth", "9")
check(rc == 2 and "--depth" in err, "lanes --depth 9 is a usage error naming it")

rc, out, err = run("failover", "--bogus")
check(rc == 2 and "--bogus" in err, "failover: unknown flag is an error naming it")

rc, out, err = run("chain", "--bogus")
check(rc == 2 and "--bogus" in err, "unknown flag is an error naming it")
rc, out, err = run("frobnicate")
check(rc == 2, "unknown command is an error")
print("1 passed, 0 failed")
