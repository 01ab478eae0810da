"""Draws a drill's timeline: receipts per second and p99 latency per second, faults marked.

Usage: plot_timeline.py timeline.json timeline.png   (timeline.json is written by `kassa chaos run`)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"kill": "#d62728", "pause": "#9467bd", "kassa": "#ff7f0e", "restart": "#8c564b", "replay": "#17becf",
          "site": "#e377c2", "wan": "#bcbd22", "registry": "#7f7f7f"}


def main(source, target):
    with open(source) as f:
        t = json.load(f)
    seconds = t["seconds"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    top.plot(seconds, t["done"], color="#1f77b4", linewidth=1.2, label="done / s")
    top.plot(seconds, t["accepted"], color="#2ca02c", linewidth=0.8, alpha=0.7, label="acknowledged / s")
    top.axhline(t["offered"], color="grey", linestyle=":", linewidth=1, label="offered / s")
    # Each tenant's own throughput: one whose kassas span both sites must not drop to zero.
    for i, (tenant, done) in enumerate(sorted(t.get("done_by_tenant", {}).items())):
        top.plot(seconds, done, linewidth=0.7, alpha=0.8, linestyle="-" if i == 0 else "--", label=f"{tenant} done / s")
    top.set_ylabel("receipts per second")
    p99 = [(s, v) for s, v in zip(seconds, t["p99_ms"]) if v is not None]
    if p99:
        bottom.plot([s for s, _ in p99], [v / 1000 for _, v in p99], color="#444444", linewidth=1, label="p99 acceptance → done")
    bottom.set_ylabel("p99 latency, s")
    bottom.set_xlabel("seconds since the load started")
    bottom.set_yscale("log")
    seen = set()
    for fault in t["faults"]:
        color = COLORS.get(fault["kind"], "black")
        label = fault["kind"] if fault["kind"] not in seen else None
        seen.add(fault["kind"])
        start, end = fault["at_s"], fault.get("end_s")
        for ax in (top, bottom):
            if end is not None and end - start >= 1:
                ax.axvspan(start, end, color=color, alpha=0.15, label=label if ax is top else None)
            else:
                ax.axvline(start, color=color, alpha=0.6, linewidth=1, label=label if ax is top else None)
            if end is None:
                ax.axvspan(start, max(seconds[-1] if seconds else start, start), color=color, alpha=0.06)
    for ax in (top, bottom):
        ax.axvline(t["send_end"], color="grey", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    top.legend(loc="upper right", fontsize=8, ncol=3)
    if p99:
        bottom.legend(loc="upper right", fontsize=8)
    top.set_title(t["title"])
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
