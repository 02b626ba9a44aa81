#!/usr/bin/env python3
"""scaling-csv.py - the bookkeeping of jobs/scaling (stdlib only; never runs mrcount).

  scaling-csv.py row CSV METRICS.json --id ID --sweep S --ranks R --threads T --reduce X
                 --chunk C --run N --input PATH --same-result true|false --launch-s SECONDS
      Append one row of CSV (the header first if CSV is new) from a run's metrics JSON and the
      sweep labels the driver gave the run. Fails (exit 1) when the metrics do not describe the
      run that was planned: another rank or thread count than asked, or a missing field.
  scaling-csv.py plotdata CSV DIR
      Medians over the runs of each sweep point, written as DIR/plot-*.dat (whitespace separated,
      '#' header line) and DIR/plot-vars.gp (has_<sweep> flags and titles for jobs/scaling.gp).
  scaling-csv.py summary CSV
      A table of the medians per sweep point on stdout.
"""
import argparse
import csv
import json
import math
import os
import signal
import statistics
import sys

COLUMNS = [
    "id", "sweep", "ranks", "threads", "cores", "reduce", "reduce_used", "schedule",
    "chunk_size", "input_bytes", "run", "seconds", "discover_s", "distribute_s", "map_s",
    "local_merge_s", "combine_s", "output_s", "mb_per_s", "mb_per_s_per_core", "distinct_keys",
    "tokens", "peak_rss_max_bytes", "load_imbalance", "same_result", "chunk_option", "input",
    "launch_s", "records",
]
PHASES = ["discover", "distribute", "map", "local_merge", "combine", "output"]
SWEEPS = ["strong", "weak", "hybrid", "combine", "chunk"]


def die(msg):
    print(f"scaling-csv: {msg}", file=sys.stderr)
    sys.exit(1)


def clean(value):
    """A CSV field: no commas, quotes or line breaks (the file is read by awk and gnuplot too)."""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        die(f"field {text!r} holds a comma, quote or line break")
    return text


def cmd_row(a):
    try:
        with open(a.metrics, encoding="utf-8") as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{a.metrics}: {e}")
    try:
        cfg = m["config"]
        ranks = m["ranks"]
        if cfg["ranks"] != a.ranks or len(ranks) != a.ranks:
            die(f"{a.metrics}: {cfg['ranks']} ranks ran, the plan says {a.ranks}")
        for r in ranks:
            if len(r["threads"]) != a.threads:
                die(f"{a.metrics}: rank {r['rank']} ran {len(r['threads'])} threads, "
                    f"the plan says {a.threads}")
        cores = a.ranks * a.threads
        row = {
            "id": a.id, "sweep": a.sweep, "ranks": a.ranks, "threads": a.threads, "cores": cores,
            "reduce": a.reduce, "reduce_used": cfg["reduce_used"], "schedule": cfg["schedule"],
            "chunk_size": cfg["chunk_size"], "input_bytes": m["bytes_read"], "run": a.run,
            "seconds": m["seconds"],
            "mb_per_s": m["mb_per_s"], "mb_per_s_per_core": round(m["mb_per_s"] / cores, 3),
            "distinct_keys": m["distinct_keys"], "tokens": m.get("tokens", ""),
            "peak_rss_max_bytes": max(r["peak_rss_bytes"] for r in ranks),
            "load_imbalance": m["load_imbalance"], "same_result": a.same_result,
            "chunk_option": a.chunk, "input": a.input, "launch_s": a.launch_s,
            "records": m["records"],
        }
        for p in PHASES:
            row[p + "_s"] = m["phases"][p]["max"]
    except (KeyError, TypeError) as e:
        die(f"{a.metrics}: not the metrics of an mrcount run (missing {e})")
    new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
    if not new:
        with open(a.csv, encoding="utf-8") as f:
            header = f.readline().rstrip("\n")
        if header != ",".join(COLUMNS):
            die(f"{a.csv}: another header than this version writes: {header}")
    with open(a.csv, "a", encoding="utf-8") as f:
        if new:
            f.write(",".join(COLUMNS) + "\n")
        f.write(",".join(clean(row[c]) for c in COLUMNS) + "\n")


def read_rows(path):
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        die(f"{path}: {e}")
    for r in rows:
        for c in ("ranks", "threads", "cores", "chunk_size", "input_bytes", "distinct_keys"):
            r[c] = int(r[c])
        for c in ["seconds", "mb_per_s", "mb_per_s_per_core"] + [p + "_s" for p in PHASES]:
            r[c] = float(r[c])
    return rows


def points(rows, sweep):
    """The sweep's points in first-run order: [(label, [rows of its runs])]."""
    groups = {}
    for r in rows:
        if r["sweep"] != sweep:
            continue
        key = (r["ranks"], r["threads"], r["reduce"], r["chunk_option"])
        groups.setdefault(key, []).append(r)
    return [(f"{k[0]}x{k[1]}", g) for k, g in groups.items()]


def med(group, col):
    return statistics.median(r[col] for r in group)


def span(group, col):
    vals = [r[col] for r in group]
    return min(vals), max(vals)


def human(nbytes):
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return str(nbytes)


def fmt(x):
    if isinstance(x, float):
        return "NaN" if math.isnan(x) else f"{x:.6g}"
    return str(x)


def write_dat(path, header, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("# " + " ".join(header) + "\n")
        for line in lines:
            f.write(" ".join(fmt(x) for x in line) + "\n")


def scaling_lines(pts, strong):
    """Rows of plot-strong.dat / plot-weak.dat, sorted by cores, relative to the fewest cores."""
    pts = sorted(pts, key=lambda p: p[1][0]["cores"])
    c0 = pts[0][1][0]["cores"]
    t0 = med(pts[0][1], "seconds")
    lines = []
    for label, g in pts:
        c = g[0]["cores"]
        t = med(g, "seconds")
        lo, hi = span(g, "seconds")
        q_lo, q_hi = span(g, "mb_per_s_per_core")
        line = [c, g[0]["ranks"], g[0]["threads"], label, t, lo, hi]
        if strong:  # speed-up scaled so that the first point is on the ideal line
            line += [c0 * t0 / t, c0 * t0 / hi, c0 * t0 / lo]
            line += [c0 * t0 / t / c, c0 * t0 / hi / c, c0 * t0 / lo / c]
        else:  # weak: the work per rank is fixed, so the ideal time is flat
            line += [t0 / t, t0 / hi, t0 / lo]
        line += [med(g, "mb_per_s_per_core"), q_lo, q_hi, med(g, "input_bytes") / 2**20]
        lines.append(line)
    return lines


def cmd_plotdata(a):
    rows = read_rows(a.csv)
    have = {s: points(rows, s) for s in SWEEPS}
    gp = {}
    nruns = max((int(r["run"]) for r in rows), default=0)
    maxc = max((r["cores"] for r in rows), default=1)
    gp["maxc"] = maxc
    gp["runs"] = nruns
    base = ["cores", "ranks", "threads", "label", "seconds", "seconds_min", "seconds_max"]
    tail = ["mb_per_s_per_core", "mbpc_min", "mbpc_max", "input_mib"]
    if have["strong"]:
        lines = scaling_lines(have["strong"], True)
        write_dat(os.path.join(a.dir, "plot-strong.dat"),
                  base + ["speedup", "speedup_lo", "speedup_hi", "efficiency", "eff_lo",
                          "eff_hi"] + tail, lines)
        gp["strong_mib"] = lines[0][-1]
        gp["strong_c0"] = lines[0][0]
        gp["strong_mbpc0"] = lines[0][-4]
        gp["strong_tpr"] = lines[0][2]
    if have["weak"]:
        lines = scaling_lines(have["weak"], False)
        write_dat(os.path.join(a.dir, "plot-weak.dat"),
                  base + ["efficiency", "eff_lo", "eff_hi"] + tail, lines)
        gp["weak_mib"] = lines[0][-1] / lines[0][1]  # per rank
        gp["weak_tpr"] = lines[0][2]
    phase_cols = PHASES + ["other"]
    for s in ("strong", "hybrid"):
        if not have[s]:
            continue
        lines = []
        for label, g in sorted(have[s], key=lambda p: (p[1][0]["cores"], p[1][0]["ranks"])):
            ph = [med(g, p + "_s") for p in PHASES]
            lines.append([label] + ph + [max(0.0, med(g, "seconds") - sum(ph))])
        write_dat(os.path.join(a.dir, f"plot-phases-{s}.dat"), ["label"] + phase_cols, lines)
    if have["combine"]:
        layouts = {}
        for label, g in have["combine"]:
            layouts.setdefault(label, {})[g[0]["reduce"]] = g
        lines = []
        for label, by in sorted(layouts.items(), key=lambda kv: int(kv[0].split("x")[0])):
            line = [label]
            for col in ("combine_s", "seconds"):
                for mode in ("reduce", "shuffle"):
                    line.append(med(by[mode], col) if mode in by else float("nan"))
            lines.append(line)
        write_dat(os.path.join(a.dir, "plot-combine.dat"),
                  ["layout", "combine_reduce", "combine_shuffle", "seconds_reduce",
                   "seconds_shuffle"], lines)
        gp["combine_ymax1"] = max(x for l in lines for x in l[1:3] if not math.isnan(x))
        gp["combine_ymax2"] = max(x for l in lines for x in l[3:5] if not math.isnan(x))
        gp["combine_mib"] = have["combine"][0][1][0]["input_bytes"] / 2**20
        gp["combine_keys"] = have["combine"][0][1][0]["distinct_keys"]
    if have["chunk"]:
        lines = []
        for label, g in have["chunk"]:
            opt = g[0]["chunk_option"]
            used = human(g[0]["chunk_size"])
            name = f"auto({used})" if opt == "auto" else opt
            lo, hi = span(g, "seconds")
            lines.append([name, med(g, "seconds"), lo, hi, med(g, "map_s"), g[0]["chunk_size"]])
        write_dat(os.path.join(a.dir, "plot-chunk.dat"),
                  ["chunk", "seconds", "seconds_min", "seconds_max", "map_s", "chunk_bytes"],
                  lines)
        gp["chunk_layout"] = have["chunk"][0][0]
        gp["chunk_ymax"] = max(max(l[3], l[4]) for l in lines)
        gp["chunk_mib"] = have["chunk"][0][1][0]["input_bytes"] / 2**20
    with open(os.path.join(a.dir, "plot-vars.gp"), "w", encoding="utf-8") as f:
        f.write("# written by jobs/scaling-csv.py plotdata; read by jobs/scaling.gp\n")
        for s in SWEEPS:
            f.write(f"has_{s} = {1 if have[s] else 0}\n")
        for k, v in gp.items():
            if isinstance(v, str):
                f.write(f'{k} = "{v}"\n')
            elif isinstance(v, float):
                f.write(f"{k} = {v:.6g}\n")
            else:
                f.write(f"{k} = {v}\n")


def cmd_summary(a):
    rows = read_rows(a.csv)
    print(f"{'sweep':8} {'point':18} {'runs':>4} {'median s':>9} {'min s':>8} {'max s':>8} "
          f"{'MB/s':>8} {'MB/s/core':>9} {'map s':>7} {'combine s':>9} {'reduce_used':>11}")
    for s in SWEEPS:
        for label, g in points(rows, s):
            r0 = g[0]
            point = label
            if s == "combine":
                point += " " + r0["reduce"]
            if s == "chunk":
                opt = r0["chunk_option"]
                point += " " + (f"auto({human(r0['chunk_size'])})" if opt == "auto" else opt)
            lo, hi = span(g, "seconds")
            used = "/".join(sorted({r["reduce_used"] for r in g}))
            print(f"{s:8} {point:18} {len(g):>4} {med(g, 'seconds'):>9.3f} {lo:>8.3f} "
                  f"{hi:>8.3f} {med(g, 'mb_per_s'):>8.1f} {med(g, 'mb_per_s_per_core'):>9.1f} "
                  f"{med(g, 'map_s'):>7.3f} {med(g, 'combine_s'):>9.4f} {used:>11}")
    bad = [r["id"] for r in rows if r["same_result"] != "true"]
    if bad:
        print(f"DIFFERENT RESULTS: {' '.join(bad)}")


def main():
    ap = argparse.ArgumentParser(prog="scaling-csv.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    r.add_argument("csv")
    r.add_argument("metrics")
    r.add_argument("--id", required=True)
    r.add_argument("--sweep", required=True, choices=SWEEPS)
    r.add_argument("--ranks", required=True, type=int)
    r.add_argument("--threads", required=True, type=int)
    r.add_argument("--reduce", required=True, choices=["auto", "reduce", "shuffle"])
    r.add_argument("--chunk", required=True)
    r.add_argument("--run", required=True, type=int)
    r.add_argument("--input", required=True)
    r.add_argument("--same-result", required=True, choices=["true", "false"])
    r.add_argument("--launch-s", required=True)
    p = sub.add_parser("plotdata")
    p.add_argument("csv")
    p.add_argument("dir")
    s = sub.add_parser("summary")
    s.add_argument("csv")
    a = ap.parse_args()
    {"row": cmd_row, "plotdata": cmd_plotdata, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    # `scaling-csv.py summary CSV | head` ends quietly, as other tools in a pipe do
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main()
