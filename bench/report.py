#!/usr/bin/env python3
"""Writes bench/results/RESULTS.md and its plots from the scenario JSON files bench/bench.py wrote.

Each figure is shown with its target from issue #5 and the ratio to it, so a reader sees at
once what holds and what does not.
"""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def measured(result):
    """When and at which commit a scenario ran (`bench/run ingress` reruns one alone), as lines."""
    if "measured_at" not in result:
        return []
    return [f"Measured {result['measured_at']} at commit {result.get('commit', 'unknown')}.", ""]


def read(name):
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def verdict(ok):
    return "meets" if ok else "**misses**"


def plot_against_k(runs, series, title, ylabel, filename, limit=None, limit_label=None):
    ks = [r["kassas"] for r in runs]
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        ax.plot(ks, values, marker="o", label=label)
    if limit is not None:
        ax.axhline(limit, color="grey", linestyle="--", linewidth=1, label=limit_label)
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("kassas (K)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, filename), dpi=110)
    plt.close(fig)


def main():
    machine = read("machine") or {}
    lines = ["# Benchmark results", "",
             f"Machine: {machine.get('cores')} cores ({machine.get('cpu')}), {machine.get('memory_gib')} GiB, "
             f"kernel {machine.get('kernel')}; {machine.get('swift')}; {machine.get('postgresql')}; "
             f"{machine.get('tansu')}; {machine.get('wrk')}. Every component runs on this machine, described {machine.get('date')}; each section below says when and at which commit it was measured.",
             "", "Produced by `bench/run`; raw figures in the JSON files beside this one. The kassa emulator runs with "
             "`--no-fsync`: a real kassa is hardware of its own, and its fiscal drive's durability costs this machine nothing "
             "in production (the emulator still writes every document before it answers).", ""]

    dispatch = read("dispatch")
    if dispatch:
        runs = dispatch["runs"]
        lines += ["## Dispatch efficiency (offered 110% of K / 0.9 s)", "", *measured(dispatch),
                  "The load generator (wrk with `bench/receipt.lua`, paced to the offered rate) only posts here; fiscalized "
                  "receipts are counted in the registry. It shares the two cores with the cluster; its CPU is shown per post.", "",
                  "| K | limit /s | offered /s | posted /s | fiscalized /s | utilization | target ≥ 0.97 | ratio to target | generator CPU ms/post |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            u = r["utilization"]
            load = r["load"]
            lines.append(f"| {r['kassas']} | {r['limit_per_s']:.1f} | {r['offered_per_s']:.1f} | {load['sent_per_s']:.1f} | "
                         f"{r['fiscalized_per_s']:.1f} | {u:.3f} | {verdict(u >= 0.97)} | {u / 0.97:.3f} | {load['cpu_ms_per_post']:.3f} |")
        lines += ["", "![utilization](utilization.png)", ""]
        plot_against_k(runs, {"utilization": [r["utilization"] for r in runs]}, "Kassa utilization at 110% offered load",
                       "fiscalized/s ÷ (K / 0.9)", "utilization.png", limit=0.97, limit_label="target 0.97")

        lines += ["## Registry", "",
                  "Statements are the ones clients send (round trips; a batch of intents or commits is one); rows "
                  "written count every row inserted, updated or deleted, whichever statement or function did it.", "",
                  "| K | results committed /s | statements per receipt | rows written per receipt | lease renewal statements per heartbeat (per dispatcher) |",
                  "|---|---|---|---|---|"]
        for r in runs:
            g = r["registry"]
            lines.append(f"| {r['kassas']} | {r['fiscalized_per_s']:.1f} | {g['statements_per_receipt']:.2f} | "
                         f"{g['rows_written_per_receipt']:.2f} | {g['lease_renewals_per_heartbeat']:.2f} |")
        by_table = runs[-1]["registry"].get("rows_written_per_receipt_by_table")
        if by_table:
            lines += ["", "Rows written per receipt at the largest K, by table: "
                      + ", ".join(f"{t} {n:.2f}" for t, n in sorted(by_table.items(), key=lambda kv: -kv[1])) + "."]
        lines += ["", "The most called statements at the largest K:", "", "| calls | statement |", "|---|---|"]
        for calls, query in runs[-1]["registry"]["top"]:
            lines.append(f"| {calls} | `{query[:110].replace('|', '/')}` |")
        lines.append("")
        alone = read("registry-commit")
        if alone:
            lines += ["The per-receipt commit alone (`bench/run registry-commit`: `commit_and_intend` called "
                      f"{alone['calls_per_round']} times in a row on a registry with nothing else running, "
                      f"{alone['rounds']} rounds): PostgreSQL time per call, median "
                      f"{alone['median_us_with_next_intent']} µs with the kassa's next intent "
                      f"(rounds {', '.join(map(str, alone['us_per_call_with_next_intent']))}), "
                      f"{alone['median_us_without_next_intent']} µs without "
                      f"({', '.join(map(str, alone['us_per_call_without_next_intent']))}).", ""]
            lines += measured(alone)

        roles = sorted({role for r in runs for role in r["cpu_ms_per_receipt"]})
        lines += ["## Cost growth", "", "CPU time per fiscalized receipt, ms, by process (PostgreSQL: all its backends):", "",
                  "| K | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
        for r in runs:
            lines.append(f"| {r['kassas']} | " + " | ".join(f"{r['cpu_ms_per_receipt'].get(role, 0):.2f}" for role in roles) + " |")
        first, last = runs[0], runs[-1]
        lines += ["", "Resident memory per 1,000 kassas, MiB:", "", "| K | dispatchers | emulator |", "|---|---|---|"]
        for r in runs:
            m = r["rss_mib_per_1000_kassas"]
            lines.append(f"| {r['kassas']} | {m['dispatcher']:.0f} | {m['emulator']:.0f} |")
        if len(runs) > 1:
            # What each added kassa costs, without the process's fixed start-up memory: the slope
            # between consecutive runs.
            lines += ["", "Added memory per 1,000 added kassas (slope between runs), MiB:", "", "| K | dispatchers | emulator |", "|---|---|---|"]
            def total(run, role):
                return sum(v for n, v in run["rss_mib"].items() if n.startswith(role))

            def slope(a, b, role):
                """MiB per 1,000 kassas added from run a to run b."""
                return (total(b, role) - total(a, role)) / ((b["kassas"] - a["kassas"]) / 1000)

            for a, b in zip(runs, runs[1:]):
                lines.append(f"| {a['kassas']} → {b['kassas']} | {slope(a, b, 'dispatcher'):.0f} | {slope(a, b, 'emulator'):.0f} |")
            lines += ["", f"Growth from K={first['kassas']} to K={last['kassas']} (target: grows no more than 20%; below 1 it fell):", ""]
            for role in roles:
                a, b = first["cpu_ms_per_receipt"].get(role, 0), last["cpu_ms_per_receipt"].get(role, 0)
                if a > 0:
                    lines.append(f"- CPU per receipt, {role}: ×{b / a:.2f} ({verdict(b / a <= 1.2)})")
            # Memory per kassa divides the fixed start-up memory by K, so it falls whatever an
            # added kassa costs: judge the cost of an added kassa (the slope) instead, over the
            # longest spans there are (one step alone is noisy: a dispatcher's memory also holds
            # the backlog it has admitted).
            for role in ("dispatcher", "emulator"):
                a = slope(runs[0], runs[1], role)
                if len(runs) > 2 and a > 0:
                    b = slope(runs[1], runs[-1], role)
                    lines.append(f"- memory per added kassa, {role}: {a:.0f} MiB per 1,000 from {runs[0]['kassas']} to {runs[1]['kassas']}, "
                                 f"{b:.0f} from {runs[1]['kassas']} to {runs[-1]['kassas']}: ×{b / a:.2f} ({verdict(b / a <= 1.2)})")
        lines += ["", "![cpu per receipt](cpu-per-receipt.png) ![memory per kassa](memory-per-kassa.png)", ""]
        plot_against_k(runs, {role: [r["cpu_ms_per_receipt"].get(role, 0) for r in runs] for role in roles},
                       "CPU time per fiscalized receipt", "ms", "cpu-per-receipt.png")
        plot_against_k(runs, {role: [r["rss_mib_per_1000_kassas"][role] for r in runs] for role in ("dispatcher", "emulator")},
                       "Resident memory per 1,000 kassas", "MiB", "memory-per-kassa.png")

    latency = read("latency")
    if latency:
        e, a = latency["end_to_end_s"], latency["added_ms"]
        lines += [f"## Latency at 80% of capacity (K={latency['kassas']}, {latency['offered_per_s']:.1f}/s, {latency['receipts']} receipts)", "",
                  *measured(latency),
                  "Accepted by the ingress → result committed in the registry, from the registry's own timestamps.", "",
                  "| figure | seen | target | ratio to target |", "|---|---|---|---|",
                  f"| end-to-end p50 | {e['p50']:.3f} s | ≤ 1.0 s | {e['p50'] / 1.0:.2f} ({verdict(e['p50'] <= 1.0)}) |",
                  f"| end-to-end p95 | {e['p95']:.3f} s | | |",
                  f"| end-to-end p99 | {e['p99']:.3f} s | ≤ 1.5 s | {e['p99'] / 1.5:.2f} ({verdict(e['p99'] <= 1.5)}) |",
                  f"| end-to-end max | {e['max']:.3f} s | | |",
                  f"| added p50 (minus 0.9 s service) | {a['p50']:.0f} ms | | |",
                  f"| added p99 | {a['p99']:.0f} ms | ≤ 50 ms | {a['p99'] / 50:.2f} ({verdict(a['p99'] <= 50)}) |", ""]
        stages = latency.get("stages")
        if stages:
            lines += ["Where the time goes:", "", "| stage | p50 | p99 |", "|---|---|---|",
                      f"| accepted → admitted by a dispatcher (Kafka, admission) | {stages['accepted_to_admitted']['p50_ms']:.0f} ms | {stages['accepted_to_admitted']['p99_ms']:.0f} ms |",
                      f"| admitted → result committed (free kassa, sale, commit) | {stages['admitted_to_committed']['p50_ms']:.0f} ms | {stages['admitted_to_committed']['p99_ms']:.0f} ms |", ""]

    ingress = read("ingress")
    if ingress:
        s = ingress["receipts"]
        rounds = ingress.get("rounds", 1)
        runs = ingress.get("runs", [])
        lines += [f"## Ingress (keep-alive connections, wrk, {ingress['seconds']} s a run, the two endpoints alternating, {rounds} rounds)", "",
                  *measured(ingress),
                  "Each endpoint runs at each concurrency; its best median is its limit. At 64 connections the receipt path "
                  "leaves the machine partly idle while answers wait on the registry and on Kafka.", "",
                  "| connections | POST /bench/noop (same server, no registry, no Kafka) 2xx/s: median (rounds) | p99 | "
                  "POST /possystem/v4/GROUP/sell (acknowledged by Kafka) 2xx/s: median (rounds) | p99 | non-2xx |",
                  "|---|---|---|---|---|---|"]
        for m in ingress.get("medians", []):
            at = [r for r in runs if r["connections"] == m["connections"]]
            each = lambda endpoint: ", ".join(f"{r[endpoint]['ok_per_s']:.0f}" for r in at)
            lines.append(f"| {m['connections']} | {m['noop']['ok_per_s']:.0f} ({each('noop')}) | {m['noop']['p99_ms']} ms | "
                         f"{m['receipts']['ok_per_s']:.0f} ({each('receipts')}) | {m['receipts']['p99_ms']} ms | "
                         f"{sum(r['noop']['non_2xx'] + r['receipts']['non_2xx'] for r in at)} |")
        ratios = ingress.get("round_ratios", [])
        spread = f"; each round's own ratio: {', '.join(f'{r:.2f}' for r in ratios)}" if ratios else ""
        lines += ["",
                  f"- ratio of the best receipt median to the best no-op median: {ingress['ratio']:.2f} (target ≥ 0.5: {verdict(ingress['ratio'] >= 0.5)}){spread}",
                  f"- acknowledged receipts per second: {s['ok_per_s']:.0f} (target ≥ 5,000: ratio {s['ok_per_s'] / 5000:.2f}, {verdict(s['ok_per_s'] >= 5000)})",
                  ""]

    with open(os.path.join(RESULTS, "RESULTS.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
