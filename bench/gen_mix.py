#!/usr/bin/env python3
"""bench/gen_mix.py - per-type count and byte shares of GH Archive hour files.

Usage: python3 bench/gen_mix.py FILE.json.gz [FILE...]
Prints, per event type: events, % of events, % of bytes, mean bytes/event,
and the mean depth of the deepest object nesting; then the totals. Used to
calibrate `kiln gen gharchive` against a real hour (docs/gen.md). Reads the
type with a cheap text match, so it also works on lines a strict parser would
reject; lines without a type are counted as "?".
"""
import gzip
import re
import sys

TYPE = re.compile(rb'"type":"([A-Za-z]+Event)"')


def depth(line):
    d = m = 0
    ins = esc = False
    for c in line:
        if ins:
            if esc:
                esc = False
            elif c == 0x5C:
                esc = True
            elif c == 0x22:
                ins = False
        elif c == 0x22:
            ins = True
        elif c in (0x7B, 0x5B):
            d += 1
            m = max(m, d)
        elif c in (0x7D, 0x5D):
            d -= 1
    return m


def main(paths):
    stats = {}
    total_n = total_b = 0
    for p in paths:
        with gzip.open(p, "rb") as f:
            for line in f:
                m = TYPE.search(line, 0, 400)
                t = m.group(1).decode() if m else "?"
                n = len(line)
                s = stats.setdefault(t, [0, 0, 0])
                s[0] += 1
                s[1] += n
                if s[0] <= 200:  # depth on a sample: the full walk is slow in Python
                    s[2] = max(s[2], depth(line))
                total_n += 1
                total_b += n
    if not total_n:
        print("no events")
        return 1
    print(f"{'type':32} {'events':>9} {'%events':>8} {'%bytes':>7} {'bytes/ev':>9} {'depth':>5}")
    for t, (n, b, d) in sorted(stats.items(), key=lambda kv: -kv[1][1]):
        print(f"{t:32} {n:9d} {100*n/total_n:8.2f} {100*b/total_b:7.2f} {b/n:9.0f} {d:5d}")
    print(f"{'total':32} {total_n:9d} {'':8} {'':7} {total_b/total_n:9.0f}   ({total_b/1e6:.1f} MB JSON)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
