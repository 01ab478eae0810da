#!/usr/bin/env python3
"""The benchmarks of issue #5, run by bench/run (which builds the release binary first).

Each scenario brings up its own one-site cluster (cluster/up, port offset 6500, state in
/tmp/kassa-bench) sized for it, measures, and takes it down again. Figures come from the
server side wherever possible: fiscalized receipts and their latency from the registry
(jobs.accepted_at -> results.created_at), statements from pg_stat_statements, CPU time and
resident memory of every process from /proc. Results: bench/results/<scenario>.json, and
bench/results/RESULTS.md with the plots, written by bench/report.py.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
CLUSTER_DIR = "/tmp/kassa-bench"
OFFSET = 6500
PG_PORT = 55432 + OFFSET
KAFKA_PORT = 19092 + OFFSET
INGRESS_PORT = 18080 + OFFSET
SERVICE_S = 0.9          # the emulator's service time at speed 1
ASSEMBLY = 48            # modules per assembly
RACK = 12                # assemblies per rack
CLK_TCK = os.sysconf("SC_CLK_TCK")
HEARTBEAT_S = 10 / 3     # a dispatcher renews its leases every lease TTL / 3 (kassa dispatcher --lease-ttl 10)
START = time.monotonic()


def say(text):
    """Progress on stderr, with the time since the run began."""
    elapsed = int(time.monotonic() - START)
    print(f"[bench {elapsed // 60:2d}:{elapsed % 60:02d}] {text}", file=sys.stderr, flush=True)


# --- the cluster under test ---------------------------------------------------------------

def inn(n):
    """A valid 10-digit INN (legal entity) derived from n: 9 digits and their check digit."""
    digits = [int(c) for c in f"77{n:07d}"]
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return "".join(map(str, digits)) + str(sum(d * w for d, w in zip(digits, weights)) % 11 % 10)


def write_topology(kassas, path):
    """One site of ceil(K/48) assemblies, 12 per rack, ports from 21000 (plus the offset)."""
    assemblies = -(-kassas // ASSEMBLY)
    lines = ["# Written by bench/bench.py", "sites:", "  - name: A", "    racks:"]
    for a in range(assemblies):
        if a % RACK == 0:
            lines += [f"      - name: A{a // RACK + 1}", "        assemblies:"]
        name = f"A{a // RACK + 1}-{a % RACK + 1}"
        lines.append(f"          - {{name: {name}, host: 127.0.0.1, base_port: {21000 + a * ASSEMBLY}, modules: {ASSEMBLY}}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def tenant_plan(kassas):
    """Tenants and kassas each: 24 each up to 96 kassas, then tenants of 96 (a large retailer)."""
    if kassas <= 96:
        return [24] * (kassas // 24)
    return [96] * (kassas // 96)


def write_tenants(kassas, path):
    lines = ["# Written by bench/bench.py", "tenants:"]
    for i, count in enumerate(tenant_plan(kassas)):
        lines.append(f'  - {{group_code: bench-{i:03d}, login: bench-{i:03d}, password: bench-secret-{i:03d}, '
                     f'inn: "{inn(i + 1)}", payment_address: "https://bench-{i:03d}.example", sno: [osn], kassas: {count}}}')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def environment(extra=None):
    env = dict(os.environ)
    env.update({"KASSA_CLUSTER_DIR": CLUSTER_DIR, "KASSA_PORT_OFFSET": str(OFFSET), "KASSA_SPEED": "1",
                "KASSA_SKIP_BUILD": "1", "KASSA_BIN": KASSA_BIN})
    env.update(extra or {})
    return env


def cluster_up(kassas, ingress_flags=""):
    down()
    os.makedirs(CLUSTER_DIR, exist_ok=True)
    topology, tenants = os.path.join(CLUSTER_DIR, "topology.yaml"), os.path.join(CLUSTER_DIR, "tenants.yaml")
    write_topology(kassas, topology)
    write_tenants(kassas, tenants)
    say(f"cluster up: {kassas} kassas, {len(tenant_plan(kassas))} tenants")
    # The emulated kassas skip fsync: a real kassa is hardware of its own, and its FN's
    # durability costs the cluster's machine nothing (the fsyncs took ~3% of this machine's CPU
    # and shared its disk with PostgreSQL's WAL at K = 1,152).
    env = environment({"KASSA_TOPOLOGY": topology, "KASSA_TENANTS": tenants, "KASSA_INGRESS_FLAGS": ingress_flags,
                       "KASSA_EMULATOR_FLAGS": "--no-fsync"})
    with open(os.path.join("/tmp", "kassa-bench-up.log"), "w") as log:
        subprocess.run([os.path.join(ROOT, "cluster", "up")], env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def down():
    if os.path.isdir(CLUSTER_DIR):
        subprocess.run([os.path.join(ROOT, "cluster", "down"), "--purge"], env=environment(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(CLUSTER_DIR, ignore_errors=True)


def psql(*args):
    """psql on the bench cluster's registry with `args`; the finished process (output captured)."""
    return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", "kassa", *args],
                          capture_output=True, text=True)


def sql(statement):
    """One statement through psql; rows as lists of strings."""
    out = psql("-tAF", "\t", "-c", statement)
    out.check_returncode()
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def pids():
    """Process name -> pid, from the cluster's pid files (postgres: the postmaster)."""
    found = {}
    folder = os.path.join(CLUSTER_DIR, "pids")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pid"):
            with open(os.path.join(folder, name)) as f:
                text = f.read().strip()
            if text.isdigit() and os.path.exists(f"/proc/{text}"):
                found[name[:-4]] = int(text)
    return found


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid, tree=False):
    """utime + stime of pid (and, with tree, of its living descendants: PostgreSQL backends)."""
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0
    if tree:
        total += sum(cpu_seconds(child, tree=True) for child in children(pid))
    return total


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def role(name):
    """Which component a pid file belongs to (dispatcher-a1 -> dispatcher)."""
    return re.sub(r"-[a-z0-9]+$", "", name) if name.startswith(("dispatcher-", "ingress-", "emulator-")) else name


def cpu_by_role():
    totals = {}
    for name, pid in pids().items():
        r = role(name)
        totals[r] = totals.get(r, 0.0) + cpu_seconds(pid, tree=(r == "postgres"))
    return totals


def load(rate, seconds, tenants=None, poll_ms=250, drain_s=0):
    """Runs `kassa load` (posts, then polls every report as a shop does) and returns its JSON
    summary; progress lines go to stderr as they come."""
    args = [KASSA_BIN, "load", "--url", f"http://127.0.0.1:{INGRESS_PORT}/possystem/v4",
            "--credentials", os.path.join(CLUSTER_DIR, "tenants.json"), "--rate", f"{rate:.1f}",
            "--duration", f"{seconds}s", "--duplicate-ratio", "0", "--drain-timeout", str(drain_s), "--json",
            "--poll-interval-ms", str(poll_ms), "--seed", "1"]
    if tenants:
        args += ["--tenants", str(tenants)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
    last = time.monotonic()
    for line in proc.stderr:
        if time.monotonic() - last >= 10:   # one progress line every 10 s is enough here
            say("  load " + line.strip())
            last = time.monotonic()
    out = proc.stdout.read()
    proc.wait()
    lines = [l for l in out.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def tenant_listing(count=None):
    """Writes the bench tenants with tokens from the ingress's getToken, one line each
    ("group_code token inn payment_address", as bench/receipt.lua reads them); returns its path."""
    with open(os.path.join(CLUSTER_DIR, "tenants.json")) as f:
        tenants = json.load(f)[:count]
    path = os.path.join(CLUSTER_DIR, "wrk-tenants.txt")
    with open(path, "w") as listing:
        for tenant in tenants:
            request = urllib.request.Request(f"http://127.0.0.1:{INGRESS_PORT}/possystem/v4/getToken",
                                             data=json.dumps({"login": tenant["login"], "pass": tenant["password"]}).encode(),
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                token = json.load(answer)["token"]
            listing.write(f"{tenant['group_code']} {token} {tenant['inn']} {tenant['payment_address']}\n")
    return path


def paced_load(rate, seconds, connections=1024):
    """Posts receipts at `rate` per second for `seconds` with wrk and bench/receipt.lua, round-robin
    over every tenant, without polling (outcomes are counted in the registry). A connection waits
    for its answer, and answers slow down on a saturated machine: 256 connections posted only
    1,639 of 2,816/s at K = 2,304, so there are 1,024. Returns what wrk counted and the CPU it
    used: the generator shares the machine with the cluster."""
    env = dict(os.environ, BENCH_TENANTS=tenant_listing(), BENCH_RATE=str(rate), BENCH_THREADS="2")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    say(f"  load: wrk, {connections} connections, {rate:.0f}/s for {seconds} s")
    counted = wrk(f"http://127.0.0.1:{INGRESS_PORT}", seconds, connections, os.path.join(ROOT, "bench", "receipt.lua"), env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counted["sent_per_s"] = counted["requests"] / seconds
    counted["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return counted


# --- scenarios --------------------------------------------------------------------------

def fiscalized_between(t0, t1):
    return int(sql(f"SELECT count(*) FROM results WHERE created_at >= to_timestamp({t0}) AND created_at < to_timestamp({t1})")[0][0])


def statements_since_reset():
    """pg_stat_statements rows of the kassa database: (calls, query)."""
    rows = sql("SELECT s.calls, regexp_replace(s.query, '\\s+', ' ', 'g') FROM pg_stat_statements s "
               "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'kassa'")
    return [(int(calls), query) for calls, query in rows]


def rows_written():
    """Rows inserted, updated or deleted so far, by table (PostgreSQL's cumulative statistics)."""
    return {name: int(n) for name, n in sql("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")}


def is_lease_renewal(statement):
    """Registry.renewLeases's statement (it locks the rows in id order first, then updates them)."""
    return "SET lease_expires_at = now()" in statement


def dispatch(kassas, seconds, warmup):
    """Offered 110% of K / 0.9 s; utilization, registry statements, CPU and memory per K."""
    capacity = kassas / SERVICE_S
    rate = 1.10 * capacity
    cluster_up(kassas)
    say(f"dispatch K={kassas}: offering {rate:.0f}/s (110% of {capacity:.0f}/s) for {seconds} s, measuring after {warmup} s")
    marks = {}

    def measure():
        time.sleep(warmup)
        sql("SELECT pg_stat_statements_reset()")
        marks["t0"], marks["cpu0"], marks["rows0"] = time.time(), cpu_by_role(), rows_written()
        while time.time() < marks["t0"] + seconds - warmup - 2:
            time.sleep(min(15, marks["t0"] + seconds - warmup - 2 - time.time()))
            say(f"  dispatch K={kassas}: {fiscalized_between(marks['t0'], time.time())} fiscalized since measuring began")
        marks["t1"], marks["cpu1"], marks["rows1"] = time.time(), cpu_by_role(), rows_written()
        marks["statements"] = statements_since_reset()
        marks["rss"] = {name: rss_mib(pid) for name, pid in pids().items()}

    watcher = threading.Thread(target=measure)
    watcher.start()
    # Posts only: above capacity the backlog grows for the whole run, and polling all of it
    # would take the CPU the receipts need (the load generator shares the machine). The
    # latency scenario polls as a shop does.
    summary = paced_load(rate, seconds)
    watcher.join()
    t0, t1 = marks["t0"], marks["t1"]
    window = t1 - t0
    done = fiscalized_between(t0, t1)
    per_second = done / window
    cpu = {r: marks["cpu1"].get(r, 0.0) - marks["cpu0"].get(r, 0.0) for r in marks["cpu1"]}
    # Rows, not statements: the intent and the commit write inside server-side functions, which
    # pg_stat_statements counts as one top-level call each.
    writes = {table: marks["rows1"].get(table, 0) - marks["rows0"].get(table, 0) for table in marks["rows1"]}
    # The renewal of every lease a dispatcher holds: one statement (Registry.renewLeases).
    renewals = sum(c for c, q in marks["statements"] if is_lease_renewal(q))
    dispatchers = len([n for n in marks["rss"] if n.startswith("dispatcher-")])
    result = {
        "kassas": kassas, "offered_per_s": rate, "limit_per_s": capacity, "window_s": window,
        "fiscalized": done, "fiscalized_per_s": per_second, "utilization": per_second / capacity,
        "cpu_s": cpu, "cpu_ms_per_receipt": {r: 1000 * v / done for r, v in cpu.items()} if done else {},
        "rss_mib": marks["rss"],
        "rss_mib_per_1000_kassas": {
            "dispatcher": 1000 * sum(v for n, v in marks["rss"].items() if n.startswith("dispatcher-")) / kassas,
            "emulator": 1000 * sum(v for n, v in marks["rss"].items() if n.startswith("emulator")) / kassas,
        },
        "registry": {
            "statements": sum(c for c, _ in marks["statements"]),
            "statements_per_receipt": sum(c for c, _ in marks["statements"]) / done if done else None,
            "rows_written_per_receipt": sum(writes.values()) / done if done else None,
            "rows_written_per_receipt_by_table": {t: n / done for t, n in writes.items() if n} if done else {},
            "lease_renewals": renewals,
            "lease_renewals_per_heartbeat": renewals / max(1.0, dispatchers * window / HEARTBEAT_S),
            "top": sorted(marks["statements"], reverse=True)[:12],
        },
        "load": {"generator": "wrk + bench/receipt.lua", "sent": summary["requests"], "sent_per_s": summary["sent_per_s"],
                 "non_2xx": summary["non_2xx"], "p99_ms": summary["p99_ms"], "cpu_s": summary["cpu_s"],
                 "cpu_ms_per_post": 1000 * summary["cpu_s"] / max(1, summary["requests"])},
    }
    say(f"dispatch K={kassas}: {per_second:.1f}/s fiscalized of {capacity:.1f}/s possible: utilization {result['utilization']:.3f} "
        f"(target 0.97: ratio {result['utilization'] / 0.97:.3f})")
    down()
    return result


def latency(kassas, seconds, warmup):
    """80% of capacity: accepted -> done from the registry, and what we add to the kassa's 0.9 s."""
    capacity = kassas / SERVICE_S
    rate = 0.8 * capacity
    cluster_up(kassas)
    say(f"latency K={kassas}: offering {rate:.0f}/s (80% of {capacity:.0f}/s) for {seconds} s")
    started = time.time()
    load(rate, seconds, poll_ms=250, drain_s=30)
    t0 = started + warmup
    row = sql("SELECT count(*), "
              "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM r.created_at - j.accepted_at)), "
              "max(extract(epoch FROM r.created_at - j.accepted_at)) "
              f"FROM results r JOIN jobs j ON j.uuid = r.job_uuid WHERE j.accepted_at >= to_timestamp({t0})")[0]
    count = int(row[0])
    p50, p95, p99 = (float(x) for x in row[1].strip("{}").split(","))
    worst = float(row[2])
    # Where the added time goes: ingress -> admitted by a dispatcher (Kafka and admission), and
    # admitted -> result committed (waiting for a free kassa, the sale, the commit).
    stages = {}
    for name, span in (("accepted_to_admitted", "j.registered_at - j.accepted_at"), ("admitted_to_committed", "r.created_at - j.registered_at")):
        row = sql("SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM " + span + ")) "
                  f"FROM results r JOIN jobs j ON j.uuid = r.job_uuid WHERE j.accepted_at >= to_timestamp({t0})")[0]
        q50, q99 = (float(x) for x in row[0].strip("{}").split(","))
        stages[name] = {"p50_ms": 1000 * q50, "p99_ms": 1000 * q99}
    result = {"kassas": kassas, "offered_per_s": rate, "receipts": count,
              "end_to_end_s": {"p50": p50, "p95": p95, "p99": p99, "max": worst},
              "added_ms": {"p50": 1000 * (p50 - SERVICE_S), "p99": 1000 * (p99 - SERVICE_S)},
              "stages": stages}
    say(f"latency: p50 {p50:.3f} s (target 1.0: ratio {p50 / 1.0:.2f}), p99 {p99:.3f} s (target 1.5: ratio {p99 / 1.5:.2f}), "
        f"added p99 {result['added_ms']['p99']:.0f} ms (target 50: ratio {result['added_ms']['p99'] / 50:.2f})")
    down()
    return result


def wrk(url, seconds, connections, script, env):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {"requests_per_s": rps, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0,
            "ok_per_s": rps * (1 - (int(bad.group(1)) if bad else 0) / max(1, total)),
            "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else None}


def ingress(seconds, concurrencies, rounds):
    """Receipts acknowledged by Kafka through one ingress, against its no-op endpoint.

    Each endpoint runs at every concurrency and its best figure is its limit. One concurrency
    would be unfair to either: 64 connections saturate the no-op endpoint, but leave the machine
    about a tenth idle on the receipt path, whose answer waits on a registry round trip and a
    Kafka acknowledgement (measured with perf: the idle task's share of the samples).

    The two endpoints alternate, `rounds` times, and each figure is the median of its rounds:
    on a shared 2-core machine one endpoint measured a minute after the other met a different
    machine (the no-op figure alone moved between 30,000 and 34,000/s across runs), and the ratio
    moved with it. Each round's own ratio is kept as the spread.
    """
    cluster_up(96, ingress_flags="--bench-endpoint")
    # Only the HTTP side is measured: the dispatchers would fiscalize the flood for minutes.
    for name, pid in pids().items():
        if name.startswith("dispatcher-"):
            os.kill(pid, 15)
    env = dict(os.environ, BENCH_TENANTS=tenant_listing(count=1))  # one tenant's receipts, as fast as answered
    script = os.path.join(ROOT, "bench", "receipt.lua")
    url = f"http://127.0.0.1:{INGRESS_PORT}"
    # A first burst of receipts meets cold caches (the registry's plans, the producer's
    # connection, the topic's first segment); the measured runs should not.
    wrk(url, 5, concurrencies[0], script, env)
    runs = []
    for round_number in range(1, rounds + 1):
        for connections in concurrencies:
            say(f"ingress: round {round_number} of {rounds}, {connections} keep-alive connections, {seconds} s each: no-op endpoint, then receipts")
            noop = wrk(url, seconds, connections, script, dict(env, BENCH_PATH="/bench/noop"))
            cpu0 = cpu_by_role()
            sell = wrk(url, seconds, connections, script, env)
            cpu1 = cpu_by_role()
            say(f"ingress: {sell['ok_per_s']:.0f} receipts/s, no-op {noop['ok_per_s']:.0f}/s")
            runs.append({"round": round_number, "connections": connections, "noop": noop, "receipts": sell,
                         "cpu_ms_per_receipt": {r: 1000 * (cpu1.get(r, 0) - cpu0.get(r, 0)) / max(1, sell["requests"]) for r in cpu1}})

    def median_run(connections, endpoint):
        """The run whose figure is the median of this endpoint's rounds at this concurrency."""
        ordered = sorted((r for r in runs if r["connections"] == connections), key=lambda r: r[endpoint]["ok_per_s"])
        return ordered[len(ordered) // 2]

    medians = []
    for c in concurrencies:
        noop_run, sell_run = median_run(c, "noop"), median_run(c, "receipts")
        medians.append({"connections": c, "noop": noop_run["noop"], "receipts": sell_run["receipts"],
                        "cpu_ms_per_receipt": sell_run["cpu_ms_per_receipt"]})
    best_noop = max(medians, key=lambda m: m["noop"]["ok_per_s"])
    best_sell = max(medians, key=lambda m: m["receipts"]["ok_per_s"])
    ratio = best_sell["receipts"]["ok_per_s"] / best_noop["noop"]["ok_per_s"] if best_noop["noop"]["ok_per_s"] else 0
    round_ratios = []
    for round_number in range(1, rounds + 1):
        this_round = [r for r in runs if r["round"] == round_number]
        round_ratios.append(max(r["receipts"]["ok_per_s"] for r in this_round) / max(1, max(r["noop"]["ok_per_s"] for r in this_round)))
    result = {"seconds": seconds, "rounds": rounds, "runs": runs, "medians": medians,
              "noop": best_noop["noop"], "noop_connections": best_noop["connections"],
              "receipts": best_sell["receipts"], "receipts_connections": best_sell["connections"], "ratio": ratio,
              "round_ratios": round_ratios, "cpu_ms_per_receipt": best_sell["cpu_ms_per_receipt"]}
    say(f"ingress: {best_sell['receipts']['ok_per_s']:.0f} receipts/s acknowledged vs {best_noop['noop']['ok_per_s']:.0f}/s no-op (medians of {rounds} rounds): "
        f"ratio {ratio:.2f}, rounds {min(round_ratios):.2f}–{max(round_ratios):.2f} (targets: ratio 0.5, 5000/s: {best_sell['receipts']['ok_per_s'] / 5000:.2f} of it)")
    down()
    return result


def registry_commit(rounds, calls):
    """The registry's per-receipt commit timed alone: PostgreSQL time of one `commit_and_intend`.

    In the dispatch scenario PostgreSQL's CPU per receipt mixes every statement with the waits of
    a busy machine. Here `bench/registry_commit.sql` calls the one statement a dispatcher runs for
    every receipt it fiscalizes (fenced result, job done, intent cleared, and the kassa's next
    intent) `calls` times in a DO loop, on a registry with nothing else running, with and without
    the next intent, alternating for `rounds` rounds.
    """
    cluster_up(96)
    # Only PostgreSQL may work while the calls are timed: SIGKILL, because a dispatcher stopped
    # gracefully would release its leases in the registry during the first round.
    for name, pid in pids().items():
        if name != "postgres":
            os.kill(pid, signal.SIGKILL)
    script = os.path.join(ROOT, "bench", "registry_commit.sql")
    figures = {"with": [], "without": []}
    for number in range(1, rounds + 1):
        for variant in ("with", "without"):
            out = psql("-q", "-v", f"calls={calls}", "-v", f"next={variant}", "-f", script)
            found = re.search(r"bench-commit \w+ next: (\d+) calls, (\d+) committed, (\d+) us per call", out.stderr)
            if out.returncode != 0 or not found or found.group(1) != found.group(2):
                sys.exit(f"registry-commit: {script} did not commit every call:\n{out.stderr}")
            figures[variant].append(int(found.group(3)))
            say(f"registry-commit: round {number} of {rounds}: {calls} commits {variant} the next intent, {figures[variant][-1]} µs each")
    down()
    result = {"calls_per_round": calls, "rounds": rounds,
              "us_per_call_with_next_intent": figures["with"], "us_per_call_without_next_intent": figures["without"],
              "median_us_with_next_intent": statistics.median(figures["with"]),
              "median_us_without_next_intent": statistics.median(figures["without"])}
    say(f"registry-commit: {result['median_us_with_next_intent']} µs a commit with the next intent, "
        f"{result['median_us_without_next_intent']} µs without (medians of {rounds} rounds)")
    return result


def commit():
    """The commit measured, with `+changes` when the sources differ from it."""
    def git(*words):
        return subprocess.run(["git", "-C", ROOT, *words], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--", "Sources", "Package.swift") else "")


def machine():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown")
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": first_line(["uname", "-r"]), "swift": first_line(["swift", "--version"]),
            "postgresql": first_line(["psql", "--version"]), "tansu": first_line([os.path.join(ROOT, ".local/bin/tansu"), "--version"]),
            "wrk": first_line(["wrk", "--version"]), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    global KASSA_BIN
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=["ingress", "latency", "registry-commit", "dispatch"],
                        help="ingress, latency, registry-commit, dispatch (dispatch also gives the registry and cost figures)")
    parser.add_argument("--quick", action="store_true", help="short runs, K up to 576: a smoke check")
    parser.add_argument("--kassas", default=None, help="comma-separated K for dispatch (default 96,576,1152,2304)")
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release/kassa"))
    args = parser.parse_args()
    KASSA_BIN = args.bin
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "machine.json"), "w") as f:
        json.dump(machine(), f, indent=2)
    try:
        for scenario in args.scenarios:
            if scenario == "ingress":
                result = ingress(seconds=6 if args.quick else 12, concurrencies=(64, 256), rounds=2 if args.quick else 3)
            elif scenario == "latency":
                result = latency(96, seconds=30 if args.quick else 90, warmup=10)
            elif scenario == "registry-commit":
                result = registry_commit(rounds=2 if args.quick else 3, calls=2000)
            elif scenario == "dispatch":
                ks = [int(k) for k in (args.kassas or ("96,576" if args.quick else "96,576,1152,2304")).split(",")]
                result = {"runs": [dispatch(k, seconds=40 if args.quick else 75, warmup=15 if args.quick else 25) for k in ks]}
            else:
                sys.exit(f"unknown scenario '{scenario}': expected ingress, latency, registry-commit or dispatch")
            result["quick"] = args.quick
            result["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            result["commit"] = commit()
            with open(os.path.join(RESULTS, f"{scenario}.json"), "w") as f:
                json.dump(result, f, indent=2)
    finally:
        down()
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "report.py")], check=True)
    say(f"done: {os.path.join(RESULTS, 'RESULTS.md')}")


KASSA_BIN = ""
if __name__ == "__main__":
    main()
