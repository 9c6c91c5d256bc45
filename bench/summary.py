#!/usr/bin/env python3
"""Prints the Markdown tables of a bench/run.sh (or bench/scale.sh) summary (JSON lines)."""
import json
import sys


def ms(us):
    return f"{us / 1000:.2f} ms"


def statuses(d):
    return ", ".join(f"{code}: {n:,}" for code, n in sorted(d["statuses"].items(), key=lambda kv: int(kv[0])))


rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
# `varco-bench disturb` rows: their own table, never in the others.
disturbs = [r for r in rows if r.get("op") == "disturb"]
rows = [r for r in rows if r.get("op") != "disturb"]
compares = [r for r in rows if "varco" in r and "bare" in r]
if compares:
    print("| label | operation | conns | Varco req/s | p50 | p99 | p99.9 | max | errors | bare req/s | bare p99 | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in compares:
        v, b = r["varco"], r["bare"]
        print(
            f"| {r.get('label', '')} | {r['op']} | {r['conns']} | {v['rps']:,.0f} | {ms(v['p50_us'])} | {ms(v['p99_us'])} "
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
if disturbs:
    quiet = next((r["verify"]["p99_us"] for r in disturbs if r["disturbance"] == "quiet"), None)
    print()
    print("| disturbance | verify conns | verify req/s | p50 | p99 | p99.9 | p99 / quiet | errors | disturbance conns | disturbance requests | statuses |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in disturbs:
        v, d = r["verify"], r.get("disturber")
        ratio = f"{v['p99_us'] / quiet:.2f}" if quiet else ""
        extra = f"{d['conns']} | {d['requests']:,} | {statuses(d)}" if d else "– | – | –"
        if d and d.get("errors_transport"):
            extra += f" (+{d['errors_transport']} transport errors)"
        print(
            f"| {r['disturbance']} | {r['conns']} | {v['rps']:,.0f} | {ms(v['p50_us'])} | {ms(v['p99_us'])} "
            f"| {ms(v['p999_us'])} | {ratio} | {v['errors']} | {extra} |"
        )
