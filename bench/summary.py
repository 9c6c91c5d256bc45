#!/usr/bin/env python3
"""Prints the Markdown tables of a bench/run.sh (or bench/scale.sh) summary (JSON lines)."""
import json
import sys


def ms(us):
    return f"{us / 1000:.2f} ms"


rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
compares = [r for r in rows if "varco" in r and "bare" in r]
if compares:
    print("| operation | conns | Varco req/s | p50 | p99 | p99.9 | max | errors | bare req/s | bare p99 | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in compares:
        v, b = r["varco"], r["bare"]
        print(
            f"| {r['op']} | {r['conns']} | {v['rps']:,.0f} | {ms(v['p50_us'])} | {ms(v['p99_us'])} "
            f"| {ms(v['p999_us'])} | {ms(v['max_us'])} | {v['errors']} | {b['rps']:,.0f} | {ms(b['p99_us'])} "
            f"| {r['ratio_rps']:.2f} |"
        )
loads = [r for r in rows if "rps" in r and "varco" not in r]
if loads:
    print()
    print("| label | operation | conns | req/s | p50 | p99 | p99.9 | max | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in loads:
        print(
            f"| {r.get('label', '')} | {r['op']} | {r['conns']} | {r['rps']:,.0f} | {ms(r['p50_us'])} "
            f"| {ms(r['p99_us'])} | {ms(r['p999_us'])} | {ms(r['max_us'])} | {r['errors']} |"
        )
for r in rows:
    if r.get("op") == "preload":
        print(
            f"\nbulk load: {r['positions']:,} positions in {r['elapsed_s']:.2f} s = "
            f"{r['positions_per_s']:,.0f} positions/s (slowest request {r['slowest_chunk_s']:.2f} s, "
            f"errors {r['errors']})"
        )
    elif "varco" not in r and "rps" not in r:
        print(json.dumps(r))
