#!/usr/bin/env python3
"""Merges `cruciate bench --exam --json` and `bench/exam_pipeline.py --json` output (JSON lines
on stdin, either order) into one Markdown table: per model, seconds per exam on each side and
their ratio (below 1: Cruciate is faster)."""
import json
import sys


def main():
    headers, rows = {}, {}
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
            rows.setdefault(obj["model"], {})[side] = obj
    c, p = headers.get("cruciate", {}), headers.get("python", {})
    print(f"CPU: {c.get('cpu', '?')}; Cruciate {c.get('engine', '?')}, {c.get('threads', '?')} threads; "
          f"PyTorch {p.get('torch', '?')}, {p.get('threads', '?')} threads, pydicom {p.get('pydicom', '?')}; "
          f"{c.get('exams', '?')} zipped DICOM exams (synthetic phantoms, 256x256, 24 to 36 slices)")
    print()
    print("| model | Cruciate, s/exam (median) | Python pipeline, s/exam (median) | ratio |")
    print("|---|---|---|---|")
    for model, sides in rows.items():
        ours, theirs = sides.get("cruciate"), sides.get("python")
        cell = lambda r: f"{r['median_s']:.3f}" if r else "n/a"
        ratio = f"{ours['median_s'] / theirs['median_s']:.2f}" if ours and theirs else "n/a"
        print(f"| {model} | {cell(ours)} | {cell(theirs)} | {ratio} |")


if __name__ == "__main__":
    main()
