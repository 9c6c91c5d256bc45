#!/usr/bin/env python3
"""The cost table per request stage, from `perf script` output of a call-graph profile.

Each sample is given to one stage: walking its call chain from the leaf towards the root, the
first frame that matches a stage's pattern names it (so a sample in malloc or in the kernel is
charged to the stage that called it, and nested stages are never counted twice). The shares
times the server's CPU time per request (measured without perf, passed in) give µs per request.

Usage: perf script -F comm,tid,ip,sym --no-inline ... | bench/costs.py CPU_US_PER_REQUEST [LABEL]
With COSTS_DETAIL=<stage name>, also prints that stage's most frequent leaf frames.
"""
import collections
import os
import re
import sys

# (stage, pattern), tried in this order on each frame, leaf first.
STAGES = [
    ("log line: writer thread", r"^varco::logging::"),
    ("log: the request's span (tracing)", r"sharded_slab|tracing_subscriber::registry|on_new_span|on_enter|on_exit|on_close|try_close|tracing::span::|tracing::instrument|tracing_core::span"),
    ("log line: formatting", r"tracing_subscriber::fmt|tracing_core::event::Event::dispatch"),
    ("metrics", r"^varco::metrics::|metrics_exporter_prometheus|^metrics::"),
    ("journal: writer thread", r"^varco::journal::Writer|^varco::store::sled::segments|^varco::store::sled::journal"),
    ("SOAP encode", r"^varco::soap::envelope::encode|^varco::soap::encode|^varco::soap::messages::.*write"),
    ("SOAP decode", r"^varco::soap::envelope::decode|^varco::soap::decode|^varco::soap::xml::"),
    ("position decode", r"decode<varco::domain::Pendenza>|decode_position|^varco::store::sled::codec|^serde_json::de::|^rmp_serde::decode"),
    ("store write: the activation's attempt record", r"^varco::store::sled::Sled::record_attempt|^varco::store::Store::record_attempt"),
    ("store read", r"^varco::store::Store::pendenza|^varco::store::sled::Sled::pendenza|^sled::tree::Tree::get"),
    ("rules and mapping", r"^varco::nodo::"),
    ("journal: event on the request path", r"^varco::app::record_soap|^varco::app::answered|^varco::journal::Journal::record|^varco::domain::evento"),
    ("handler glue", r"^varco::app::"),
    ("edge checks", r"^varco::edge::|varco::edge::Policy"),
    ("routing and layers", r"^axum::|^<axum|^tower::|^<tower|^tower_http|^<tower_http|varco::server::.*map_request|^varco::edge::deadline"),
]
# Tried only when no frame of the chain matches a stage above (sled's own frames sit under
# Varco's store read; tokio's under any task).
FALLBACK = [
    ("store: sled background threads", r"^sled::"),
    ("HTTP: hyper, sockets (kernel)", r"^hyper::|^<hyper|^hyper_util|^<hyper_util|^tokio::net|^<tokio::net|^mio::"),
    ("kernel: loopback TCP, scheduling (under tokio's threads)", r"^tokio::|^<tokio"),
]
COMPILED = [(name, re.compile(p)) for name, p in STAGES]
COMPILED_FALLBACK = [(name, re.compile(p)) for name, p in FALLBACK]
OTHER = "other (kernel scheduling, idle threads, unattributed)"


def stage_of(frames):
    for table in (COMPILED, COMPILED_FALLBACK):
        for sym in frames:
            for name, pat in table:
                if pat.search(sym):
                    return name
    return OTHER


def main():
    cpu_us = float(sys.argv[1])
    label = sys.argv[2] if len(sys.argv) > 2 else ""
    counts = {}
    total = 0
    detail = os.environ.get("COSTS_DETAIL")
    leaves = collections.Counter()
    frames = []
    header = None

    def flush():
        nonlocal total
        if header is None:
            return
        name = stage_of(frames)
        counts[name] = counts.get(name, 0) + 1
        if name == detail:
            leaves[" <- ".join(frames[:3])] += 1
        total += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            header, frames = None, []
            continue
        if not line.startswith((" ", "\t")):
            flush()
            header, frames = line, []
            continue
        # "\t    55d0c0ffee sym+0x12 (dso)": keep the symbol without its offset.
        parts = line.strip().split(" ", 1)
        if len(parts) == 2:
            sym = re.sub(r"\+0x[0-9a-f]+$", "", parts[1].rsplit(" (", 1)[0])
            frames.append(sym)
    flush()
    if total == 0:
        sys.exit("no samples")
    order = [name for name, _ in STAGES + FALLBACK] + [OTHER]
    print(f"| stage ({label}) | share of the server's CPU | µs per request |")
    print("|---|---|---|")
    for name in order:
        n = counts.get(name, 0)
        if n:
            print(f"| {name} | {100 * n / total:.1f} % | {cpu_us * n / total:.1f} |")
    print(f"| **all** ({total:,} samples) | 100 % | **{cpu_us:.1f}** |")
    for chain, n in leaves.most_common(15):
        print(f"{n:6d}  {chain[:240]}")


main()
