"""Summary of a source-level ncu profile of the Hopper kernel (the CSV that profile_sm90.sh writes
with `ncu --page source --csv --print-source sass`): warp-stall samples split by role — the
consumer warpgroups' code starts at their `setmaxnreg.inc` (USETMAXREG.TRY_ALLOC), the producer's
at its `setmaxnreg.dec` (USETMAXREG.DEALLOC) — and the instructions with the most samples.

    python3 bench/cuda/ncu_summary.py src_CASE.csv [--json OUT.json] [--top N]
"""
import argparse
import csv
import json
import sys


def load(path):
    rows = list(csv.reader(open(path, newline="")))
    # first row: kernel name; second: the header; then one row per SASS instruction
    kernel = rows[0][1] if len(rows[0]) > 1 else ""
    header = rows[1]
    return kernel, header, rows[2:]


def summarize(path, top=25):
    kernel, header, data = load(path)
    col = {h: i for i, h in enumerate(header)}
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    samples = col["Warp Stall Sampling (All Samples)"]
    src = col["Source"]
    executed = col.get("Instructions Executed")

    def n(row, i):
        try:
            return int(row[i] or 0)
        except ValueError:
            return 0

    def marker(text):
        return next((i for i, r in enumerate(data) if text in r[src]), None)

    consumer, producer = marker("TRY_ALLOC"), marker("DEALLOC")
    if consumer is None or producer is None:
        raise SystemExit(f"{path}: no setmaxnreg markers (USETMAXREG) found: is this the sm_90a kernel?")
    # the roles' code is laid out in the order the kernel branches: whichever marker comes first
    # runs until the other one
    spans = {"prologue": range(0, min(consumer, producer))}
    if consumer < producer:
        spans["consumers"], spans["producer"] = range(consumer, producer), range(producer, len(data))
    else:
        spans["producer"], spans["consumers"] = range(producer, consumer), range(consumer, len(data))

    def by_reason(rng):
        t = {h[len("stall_"):]: sum(n(data[i], col[h]) for i in rng) for h in stalls}
        return dict(sorted(((k, v) for k, v in t.items() if v), key=lambda kv: -kv[1]))

    total = sum(n(r, samples) for r in data)
    out = {"kernel": kernel, "total_samples": total, "roles": {}}
    for role, rng in spans.items():
        s = sum(n(data[i], samples) for i in rng)
        out["roles"][role] = {"samples": s, "share": s / total if total else 0.0, "by_reason": by_reason(rng),
                              "instructions_executed": sum(n(data[i], executed) for i in rng) if executed is not None else None}
    order = sorted(range(len(data)), key=lambda i: -n(data[i], samples))[:top]
    role_of = lambda i: next(r for r, rng in spans.items() if i in rng)
    out["top"] = [{"index": i, "role": role_of(i), "sass": data[i][src].strip(), "samples": n(data[i], samples),
                   "reasons": dict(sorted(((h[len("stall_"):], n(data[i], col[h])) for h in stalls if n(data[i], col[h])), key=lambda kv: -kv[1])[:3])}
                  for i in order]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--json", help="also write the summary here")
    ap.add_argument("--top", type=int, default=25, help="instructions to list (default 25)")
    a = ap.parse_args()
    s = summarize(a.csv, a.top)
    if a.json:
        json.dump(s, open(a.json, "w"), indent=1)
    print(f"{s['kernel'][:100]}\n{s['total_samples']} samples")
    for role, r in s["roles"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in list(r["by_reason"].items())[:6])
        print(f"  {role:9s} {100 * r['share']:5.1f} %  {reasons}")
    for t in s["top"]:
        reasons = ", ".join(f"{k} {v}" for k, v in t["reasons"].items())
        print(f"  #{t['index']:5d} {t['role']:9s} {100 * t['samples'] / max(1, s['total_samples']):5.1f} %  {t['sass'][:64]:64s} {reasons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
