#!/usr/bin/env python3
"""The registry's per-receipt commit in isolation: bench/registry-commit.

In the dispatch scenario PostgreSQL's CPU per receipt mixes every statement with the waits of a
busy machine. This times the one statement a dispatcher runs for every receipt it fiscalizes,
`commit_and_intend` (fenced result, job done, intent cleared, and the kassa's next intent), on
a registry of its own with nothing else running: ROUNDS rounds of CALLS calls, with and without
the next intent, alternating. It prints each round and the medians, writes
bench/results/registry-commit.json (RESULTS.md shows it under Registry), and takes its cluster down.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import bench

ROUNDS = 3
CALLS = 2000
SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "registry_commit.sql")


def one_round(next_intent):
    """PostgreSQL time of one call, µs, from the script's NOTICE."""
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(bench.PG_PORT), "-U", "postgres", "-d", "kassa", "-q",
                          "-v", f"calls={CALLS}", "-v", f"next={next_intent}", "-f", SQL],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"registry-commit: {SQL} failed:\n{out.stderr}")
    found = re.search(r"bench-commit \w+ next: (\d+) calls, (\d+) committed, (\d+) us per call", out.stderr)
    if not found or found.group(1) != found.group(2):
        raise SystemExit(f"registry-commit: the script did not commit every call:\n{out.stderr}")
    return int(found.group(3))


def main():
    bench.KASSA_BIN = sys.argv[1]
    bench.cluster_up(96)
    try:
        # Only PostgreSQL may work while the calls are timed: SIGKILL, because a dispatcher
        # stopped gracefully would release its leases in the registry during the first round.
        for name, pid in bench.pids().items():
            if name != "postgres":
                os.kill(pid, signal.SIGKILL)
        rounds = {"with": [], "without": []}
        for number in range(1, ROUNDS + 1):
            for variant in ("with", "without"):
                rounds[variant].append(one_round(variant))
                bench.say(f"round {number}: {CALLS} commits {variant} the next intent, {rounds[variant][-1]} µs each")
    finally:
        bench.down()
    result = {
        "scenario": "registry-commit", "calls_per_round": CALLS, "rounds": ROUNDS,
        "us_per_call_with_next_intent": rounds["with"], "us_per_call_without_next_intent": rounds["without"],
        "median_us_with_next_intent": statistics.median(rounds["with"]),
        "median_us_without_next_intent": statistics.median(rounds["without"]),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": bench.commit(),
    }
    path = os.path.join(bench.RESULTS, "registry-commit.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    subprocess.run([sys.executable, os.path.join(bench.ROOT, "bench", "report.py")], check=True)
    print(f"commit_and_intend, PostgreSQL time per call (median of {ROUNDS} rounds of {CALLS}): "
          f"{result['median_us_with_next_intent']} µs with the next intent, "
          f"{result['median_us_without_next_intent']} µs without; {path}")


if __name__ == "__main__":
    main()
