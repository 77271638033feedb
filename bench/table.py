#!/usr/bin/env python3
"""Merges `cruciate bench --json` and `bench/pytorch_bench.py --json` output (JSON lines on
stdin, either order) into one Markdown table: every workload's rows from both sides, each with
its ratio to the fastest PyTorch variant of that workload (below 1: Cruciate is faster)."""
import json
import sys


def spread(row):
    if row.get("min_ms") is None or row.get("max_ms") is None:
        return ""
    return f" ({row['min_ms']:.1f}-{row['max_ms']:.1f})"


def main():
    headers, rows = {}, []
    side = None
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        if "side" in obj:
            side = obj["side"]
            headers[side] = obj
        else:
            obj["side"] = side
            rows.append(obj)
    cruciate, torch = headers.get("cruciate", {}), headers.get("pytorch", {})
    if torch.get("gpu"):
        print(f"GPU: {torch['gpu']}: Cruciate on {cruciate.get('device')} (Burn, Vulkan), PyTorch "
              f"{torch.get('torch')} on {torch.get('device')}; host CPU {cruciate.get('cpu')}\n")
    else:
        print(f"CPU: {cruciate.get('cpu') or torch.get('cpu')}; Cruciate threads {cruciate.get('threads')}, "
              f"oneDNN {cruciate.get('onednn')} ({cruciate.get('isa')}); PyTorch {torch.get('torch')}, "
              f"{torch.get('threads')} threads\n")
    print("| workload | side | variant | median ms (min-max) | GFLOP/s | vs fastest PyTorch |")
    print("|---|---|---|---|---|---|")
    keys = ["MRNet forward", "MRNet training step", "VGG16 forward", "ResNet-18 forward",
            "ResNet-50 forward", "SqueezeNet forward", "ResNet-50 training step",
            "small training step"]
    def workload(row):
        return next((k for k in keys if row["workload"].startswith(k)), row["workload"])
    fastest = {}
    for row in rows:
        if row["side"] == "pytorch":
            w = workload(row)
            fastest[w] = min(fastest.get(w, float("inf")), row["median_ms"])
    for w in keys + sorted({workload(r) for r in rows} - set(keys)):
        for row in [r for r in rows if workload(r) == w]:
            rate = row.get("gflop_per_s")
            less = row["workload"].startswith(" ")  # Cruciate's less-work rows
            ratio = f"{row['median_ms'] / fastest[w]:.2f}" if w in fastest and not less else "-"
            print(f"| {row['workload'].strip()} | {row['side']} | {row['variant']} | "
                  f"{row['median_ms']:.1f}{spread(row)} | "
                  f"{'-' if rate is None else f'{rate:.1f}'} | {ratio} |")


if __name__ == "__main__":
    main()
