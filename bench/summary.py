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


# The goals of issue 19, each with its verdict, from the rows of this run (and, when the file
# holds them, from bench/scale.sh's rows).
def goal_rows():
    out = []

    def compare(op, conns):
        return next((r for r in compares if r["op"] == op and r["conns"] == conns), None)

    for op, name, want in (("paVerifyPaymentNotice", "verify", 0.6), ("paGetPaymentV2", "activate", 0.5)):
        for conns in (1, 64, 512):
            r = compare(op, conns)
            if r:
                out.append((f"{name} ≥ {want} × the bare server, {conns} conns", f"{r['ratio_rps']:.2f} ({r['varco']['rps']:,.0f} / {r['bare']['rps']:,.0f} req/s)", r["ratio_rps"] >= want))
        r = compare(op, 64)
        if r:
            p99 = r["varco"]["p99_us"] / 1000
            out.append((f"{name} p99 < 2 ms at 64 conns", f"{p99:.2f} ms", p99 < 2))
    r = compare("paSendRTV2", 64)
    if r:
        out.append(("durable receipts ≥ 10,000/s at 64 conns", f"{r['varco']['rps']:,.0f}/s", r["varco"]["rps"] >= 10000))
    for r in rows:
        if r.get("op") == "bulk" and r.get("chunk") == 10000 and not r.get("single_request"):
            out.append(("bulk load ≥ 100,000 positions/s in requests of 10,000", f"{r['positions_per_s']:,.0f}/s", r["positions_per_s"] >= 100000))
    mems = [r for r in rows if r.get("op") == "mem"]
    if mems:
        cache = mems[0]["cache_mb"]
        peak = max(m["rss_kib"] for m in mems) / 1024
        out.append((f"resident memory ≤ store.cache_mb + 256 MiB ({cache + 256} MiB) under load", f"{peak:,.0f} MiB (largest VmRSS sampled)", peak <= cache + 256))
    scale = sorted((r for r in rows if r.get("op") == "scale"), key=lambda r: r["positions"])
    loads = {}
    for r in rows:
        lab = r.get("label", "")
        if r.get("op") == "paVerifyPaymentNotice" and r.get("conns") == 64 and lab.endswith(" warm"):
            loads[int(lab.split("=")[1].split()[0])] = r["rps"]
    if len(scale) >= 2 and scale[0]["positions"] in loads and scale[-1]["positions"] in loads:
        small, big = scale[0]["positions"], scale[-1]["positions"]
        change = loads[big] / loads[small] - 1
        out.append((f"verify at 64 conns with {big:,} positions within 10 % of {small:,}", f"{change:+.0%} ({loads[big]:,.0f} vs {loads[small]:,.0f} req/s)", change >= -0.10))
    for r in scale:
        out.append((f"restart-to-ready < 2 s at {r['positions']:,} positions", f"{r['start_to_ready_s']:.2f} s", r["start_to_ready_s"] < 2))
        peak = max(r["peak_rss_kib_1"], r["peak_rss_kib_64"]) / 1024
        out.append((f"resident memory ≤ cache + 256 MiB ({r['cache_mb'] + 256} MiB) at {r['positions']:,} positions", f"{peak:,.0f} MiB", peak <= r["cache_mb"] + 256))
    return out


goals = goal_rows()
if goals:
    print()
    print("| goal (issue 19) | measured | verdict |")
    print("|---|---|---|")
    for goal, measured, met in goals:
        print(f"| {goal} | {measured} | {'met' if met else '**missed**'} |")
