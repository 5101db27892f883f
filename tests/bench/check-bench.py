#!/usr/bin/env python3
"""check-bench.py - ant-bench runs end to end, its JSON has the promised keys and sane figures,
its progress goes to stderr only, and a target's line names the target and the floor."""
import json
import math
import re
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
                  rf"[\d.]+x floor \((fork\+exec\+exit of echo|SIGKILL to reap of a child): "
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

rc, out, err = run("failover", "--bogus")
check(rc == 2 and "--bogus" in err, "failover: unknown flag is an error naming it")

rc, out, err = run("chain", "--bogus")
check(rc == 2 and "--bogus" in err, "unknown flag is an error naming it")
rc, out, err = run("frobnicate")
check(rc == 2, "unknown command is an error")
print("1 passed, 0 failed")
