#!/usr/bin/env python3
"""unicode_words.py - the users' multiprocessing MapReduce (as ../shared/bench/seed_mapreduce.py:
read every line, partition, Pool.map a dict per partition, functools.reduce) with the text handled
the way Python users write it: each line decoded as UTF-8 (errors replaced), str.split(), and
str.casefold() on each word.  The baseline of `mrcount --tokens unicode --fold-case` (whose token
rule is stricter: punctuation is a delimiter, so the tables differ; this measures the cost).

usage: unicode_words.py [--procs N] [--partition-size L] FILES...
stdout: the top 20 "key\\tcount", then "#total\\tN" and "#distinct\\tK".
"""
import argparse
import functools
import multiprocessing


def mapper(lines):
    counts = {}
    for line in lines:
        for word in line.split():
            w = word.casefold()
            counts[w] = counts.get(w, 0) + 1
    return counts


def reducer(a, b):
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    return a


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=multiprocessing.cpu_count())
    ap.add_argument("--partition-size", type=int, default=100000)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    lines = []
    for path in a.files:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines.extend(f)
    parts = [lines[i:i + a.partition_size] for i in range(0, len(lines), a.partition_size)]
    if a.procs == 0:
        results = map(mapper, parts)
    else:
        with multiprocessing.Pool(a.procs) as pool:
            results = pool.map(mapper, parts)
    total = functools.reduce(reducer, results, {})
    for k, v in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:20]:
        print("%s\t%d" % (k, v))
    print("#total\t%d" % sum(total.values()))
    print("#distinct\t%d" % len(total))


if __name__ == "__main__":
    main()
