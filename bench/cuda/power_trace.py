"""SM clock and board power while each timed block ran: joins run.py's block spans (results
"blocks", local wall-clock times) with an nvidia-smi trace taken meanwhile (bench/cuda/ab_run.sh:
timestamp, clocks.sm, power.draw, temperature, clock-event reasons; every 50 ms).

    python3 bench/cuda/power_trace.py bench.json smi_bench.csv [--json out.json]
Prints, per (shape pattern, contestant): blocks, samples, median and mean SM MHz, mean and max W.
"""
import argparse
import datetime
import json
import statistics


def parse_smi(path):
    rows = []
    for line in open(path):
        parts = [x.strip() for x in line.split(",")]
        if len(parts) < 3:
            continue
        try:
            t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f")
            mhz = float(parts[1].split()[0])
            watts = float(parts[2].split()[0])
        except ValueError:
            continue
        rows.append((t, mhz, watts, parts[4] if len(parts) > 4 else ""))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench")
    ap.add_argument("smi")
    ap.add_argument("--json")
    a = ap.parse_args()
    blocks = json.load(open(a.bench)).get("blocks", [])
    smi = parse_smi(a.smi)
    agg = {}
    for b in blocks:
        t0, t1 = datetime.datetime.fromisoformat(b["start"]), datetime.datetime.fromisoformat(b["end"])
        inside = [r for r in smi if t0 <= r[0] <= t1]
        g = agg.setdefault((b["tag"], b["label"]), {"blocks": 0, "mhz": [], "w": []})
        g["blocks"] += 1
        g["mhz"] += [r[1] for r in inside]
        g["w"] += [r[2] for r in inside]
    out = []
    for (tag, label), g in agg.items():
        row = {"tag": tag, "label": label, "blocks": g["blocks"], "samples": len(g["mhz"])}
        if g["mhz"]:
            row.update(mhz_median=statistics.median(g["mhz"]), mhz_mean=round(statistics.mean(g["mhz"]), 1),
                       w_mean=round(statistics.mean(g["w"]), 1), w_max=max(g["w"]))
        out.append(row)
        print(f"{tag:22s} {label:48s} blocks {row['blocks']:3d} samples {row['samples']:4d} "
              f"MHz med {row.get('mhz_median', float('nan')):6.0f} mean {row.get('mhz_mean', float('nan')):6.0f}  "
              f"W mean {row.get('w_mean', float('nan')):5.0f} max {row.get('w_max', float('nan')):5.0f}")
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
