#!/usr/bin/env python3
"""Generator for tests/e2e/exec_diff.sh: Iceberg tables and SELECTs of the
shapes the columnar executor (src/exec) runs, both written as SQL text.

  exec_diff.py setup SEED      -> the DDL + INSERTs building the tables
  exec_diff.py queries SEED N  -> N queries, each preceded by a marker
                                  SELECT 'Q<k>' AS q; (so a difference is
                                  located), one statement per line

Tables (namespace x): big (3 data files, NULL-heavy columns, partitioned by
day(ts)), flat (2 files, unpartitioned), one (one row), empty (no rows),
nulls (every nullable column NULL). Values include negatives, '', unicode,
fractional seconds, and reals with .5 (ties and order-dependent sums are
avoided by the executor, not by the data).
"""
import random
import re
import sys

COLS = [  # name, iceberg type, class
    ("id", "long", "int"),
    ("g", "int", "int"),
    ("h", "long", "int"),
    ("b", "boolean", "int"),
    ("r", "double", "real"),
    ("f", "float", "real"),
    ("s", "string", "text"),
    ("d", "date", "date"),
    ("ts", "timestamptz", "ts"),
    ("dec", "decimal(9,2)", "real"),
]
TABLES = ["big", "flat", "one", "empty", "nulls"]
STRS = ["a", "b", "B", "ab", "", "zz", "ümlaut", "日本", "a b", "x'y"]


def q(s):
    return "'" + s.replace("'", "''") + "'"


def ts_text(rng):
    day = rng.randrange(1, 20)
    h, m, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    frac = "" if rng.random() < 0.7 else ".%06d" % rng.randrange(1, 999999)
    return "2024-06-%02dT%02d:%02d:%02d%sZ" % (day, h, m, s, frac)


def value(rng, name, i, nullp):
    if name == "id":
        return str(i)
    if rng.random() < nullp:
        return "NULL"
    if name == "g":
        return str(rng.randrange(10))
    if name == "h":
        if rng.random() < 0.01:  # sums of these overflow: SQLite's error, on both paths
            return str(rng.choice([9223372036854775000, -9223372036854775000]))
        return str(rng.choice([rng.randrange(-1000, 1000), rng.randrange(-10**12, 10**12), 0]))
    if name == "b":
        return str(rng.randrange(2))
    if name == "r":
        return repr(rng.choice([rng.randrange(-100, 100) / 4.0, 0.0, 1e10, -3.5]))
    if name == "f":
        return repr(rng.randrange(-50, 50) / 2.0)
    if name == "s":
        return q(rng.choice(STRS))
    if name == "d":
        return q("2024-%02d-%02d" % (rng.randrange(5, 8), rng.randrange(1, 29)))
    if name == "ts":
        return q(ts_text(rng))
    if name == "dec":
        return "%d.%02d" % (rng.randrange(-500, 500), rng.randrange(100))
    raise ValueError(name)


def setup(seed):
    rng = random.Random(seed)
    out = []
    cols = ", ".join("%s %s%s" % (n, t, " NOT NULL" if n == "id" else "") for n, t, _ in COLS)
    for t in TABLES:
        part = " PARTITIONED BY (day(ts))" if t == "big" else ""
        out.append("CREATE TABLE x.%s (%s)%s;" % (t, cols, part))
    plan = {"big": [(0, 700, 0.3), (700, 1400, 0.5), (1400, 2000, 0.1)],
            "flat": [(0, 500, 0.2), (500, 900, 0.6)],
            "one": [(0, 1, 0.0)], "nulls": [(0, 40, 1.0)]}
    for t, chunks in plan.items():
        for lo, hi, nullp in chunks:
            rows = []
            for i in range(lo, hi):
                rows.append("(" + ", ".join(value(rng, n, i, nullp) for n, _, _ in COLS) + ")")
            out.append("INSERT INTO x.%s VALUES %s;" % (t, ", ".join(rows)))
    return "\n".join(out)


def literal(rng, cls):
    if rng.random() < 0.03:
        return "NULL"
    if cls == "int":
        return str(rng.choice([rng.randrange(-5, 12), rng.randrange(-1000, 1000), 0, 1]))
    if cls == "real":
        return rng.choice([repr(rng.randrange(-40, 40) / 4.0), str(rng.randrange(-20, 20))])
    if cls == "text":
        return q(rng.choice(STRS))
    if cls == "date":
        return q(rng.choice(["2024-06-%02d" % rng.randrange(1, 29), "2024-05-20", "2024-07-01T00:00:00Z"]))
    if cls == "ts":
        return q(rng.choice([ts_text(rng), "2024-06-%02d" % rng.randrange(1, 20), "2024-06-05T10:00:00Z"]))
    raise ValueError(cls)


def textish(cls):
    return cls in ("text", "date", "ts")


NUM_EXPRS = ["g + 1", "g - h", "g * 3 - b", "g / 3", "g % 4", "-g", "h / 7", "h % 1000", "h * 1000000",
             "r * 2", "r / g", "g / 0", "h % -1", "coalesce(g, -1)", "cast(r as integer)", "cast(g as real)",
             "CASE WHEN g > 5 THEN 1 WHEN g IS NULL THEN NULL ELSE 0 END", "CASE g WHEN 1 THEN 10 WHEN 2 THEN 20 END",
             "(g + 1) * (b + 1)", "dec * 2", "f - r", "length(s)", "length(h)", "iso_year(d)"]
TEXT_EXPRS = ["coalesce(s, 'none')", "substr(ts, 1, 10)", "substr(s, 2)", "substr(s, 0, 2)", "s || '-' || g",
              "CASE WHEN s LIKE 'a%' THEN 'A' ELSE 'other' END", "cast(g as text)", "substr(d, 1, 7)",
              "ifnull(s, d)", "cast(ts as text)", "lower(s)", "upper(s || g)", "upper(substr(ts, 1, 13))"]
LIKES = ["a%", "A%", "", "%", "ab", "2024-06-0%", "ü%", "x'y%", "日%", "b"]


def expr_pred(rng):
    k = rng.random()
    if k < 0.3:
        return "%s %sLIKE %s" % (rng.choice(["s", "ts", "d", "substr(s, 1, 1)"]), rng.choice(["", "NOT "]),
                                 q(rng.choice(LIKES)))
    if k < 0.7:
        return "%s %s %s" % (rng.choice(NUM_EXPRS), rng.choice(["=", "<", ">=", "!="]), literal(rng, "int"))
    if k < 0.85:
        return "%s %s %s" % (rng.choice(TEXT_EXPRS), rng.choice(["=", "<", ">"]), literal(rng, "text"))
    return "%s BETWEEN %s AND g + 3" % (rng.choice(NUM_EXPRS), literal(rng, "int"))


def pred(rng, depth):
    r = rng.random()
    if r > 0.85:
        return expr_pred(rng)
    if depth < 2 and r < 0.25:
        op = rng.choice(["AND", "OR"])
        return "(%s %s %s)" % (pred(rng, depth + 1), op, pred(rng, depth + 1))
    if depth < 2 and r < 0.32:
        return "NOT (%s)" % pred(rng, depth + 1)
    name, _, cls = rng.choice(COLS)
    k = rng.random()
    if k < 0.45:
        op = rng.choice(["=", "!=", "<", "<=", ">", ">=", "<>", "=="])
        if rng.random() < 0.1:  # column against column of the same class
            others = [n for n, _, c in COLS if (textish(c) == textish(cls)) and n != name]
            if others:
                return "%s %s %s" % (name, op, rng.choice(others))
        if rng.random() < 0.15:
            return "%s %s %s" % (literal(rng, cls), op, name)
        return "%s %s %s" % (name, op, literal(rng, cls))
    if k < 0.6:
        return "%s IS %sNULL" % (name, rng.choice(["", "NOT "]))
    if k < 0.8:
        n = rng.randrange(0, 5)
        return "%s %sIN (%s)" % (name, rng.choice(["", "NOT "]), ", ".join(literal(rng, cls) for _ in range(n)))
    return "%s %sBETWEEN %s AND %s" % (name, rng.choice(["", "NOT "]), literal(rng, cls), literal(rng, cls))


def key_expr(rng):
    k = rng.random()
    if k < 0.15:
        return rng.choice(["g % 3", "b * 10 + g", "-g", "g / 4", "CASE WHEN g > 5 THEN 'hi' ELSE 'lo' END",
                           "coalesce(s, 'none')", "substr(ts, 1, 10)", "cast(r as integer)", "s || '-' || g",
                           "coalesce(g, b)", "lower(s)", "upper(s)", "length(s)", "iso_year(ts)"])
    if k < 0.6:
        return rng.choice(["g", "s", "b", "d", "ts", "h", "r", "dec"])
    if k < 0.9:
        unit = rng.choice(["second", "minute", "hour", "day", "week", "month", "quarter", "year", "DAY"])
        return "date_trunc('%s', %s)" % (unit, rng.choice(["ts", "d"]))
    return "iso_week(%s)" % rng.choice(["ts", "d"])


def agg_expr(rng):
    k = rng.random()
    if k < 0.2:
        return rng.choice(["count(*)", "count(*) * 2", "sum(g) - count(*)", "max(g) / 2", "count(*) % 3",
                           "CASE WHEN count(*) > 3 THEN 'many' ELSE 'few' END"])
    if k < 0.3:
        return rng.choice(["sum(CASE WHEN s LIKE 'a%' THEN 1 ELSE 0 END)", "sum(g * 2 - b)", "avg(g % 4)",
                           "count(DISTINCT g % 3)", "count(DISTINCT s || g)", "max(cast(g as text))", "min(r * 2)",
                           "max(g / 2)", "min(coalesce(s, 'x'))", "sum(g / 3)", "count(CASE WHEN r > 0 THEN 1 END)",
                           "max(r / g)", "min(substr(ts, 1, 13))", "sum(h % 1000)", "count(DISTINCT substr(s, 1, 1))"])
    name, _, cls = rng.choice(COLS)
    if k < 0.35:
        return "count(%s)" % name
    if k < 0.5:
        return "count(DISTINCT %s)" % name
    if k < 0.7:
        return "%s(%s)" % (rng.choice(["sum", "avg", "SUM"]), rng.choice(["g", "h", "b", "id"]))
    return "%s(%s)" % (rng.choice(["min", "max"]), name)


def query(rng):
    t = rng.choice(TABLES + ["big", "big", "flat"])
    nkeys = rng.choice([0, 1, 1, 2, 2, 3])
    keys = []
    while len(keys) < nkeys:
        e = key_expr(rng)
        if e not in keys:
            keys.append(e)
    aggs = [agg_expr(rng) for _ in range(rng.randrange(0 if keys else 1, 4))]
    items = []
    for i, e in enumerate(keys + aggs):
        items.append(e + (" AS c%d" % i if rng.random() < 0.5 else ""))
    rng.shuffle(items)
    sql = "SELECT " + ", ".join(items) + " FROM x." + t
    if rng.random() < 0.15:
        sql += rng.choice([" AS tt", " tt"])
    if rng.random() < 0.7:
        sql += " WHERE " + pred(rng, 0)
    if keys:
        terms = []
        for e in keys:
            pos = [i for i, it in enumerate(items) if it == e or it.startswith(e + " AS ")]
            terms.append(str(pos[0] + 1) if pos and rng.random() < 0.4 else e)
        sql += " GROUP BY " + ", ".join(terms)
    if rng.random() < 0.2:
        sql += " HAVING " + rng.choice([
            "count(*) > %d" % rng.randrange(0, 6), "sum(g) %% 2 = 0", "max(s) LIKE 'a%%'",
            "min(g) IS NOT NULL AND count(*) >= 2", "count(*) * 2 > sum(b)", "NOT max(g) = 9", "avg(g) > 4"])
    if rng.random() < 0.6:
        n = rng.randrange(1, len(items) + 1)
        terms = []
        for it in rng.sample(items, n):
            if " AS " in it and rng.random() < 0.5:
                ref = it.split(" AS ")[1]
            elif rng.random() < 0.3:
                ref = str(items.index(it) + 1)
            else:
                ref = it.split(" AS ")[0]
            terms.append(ref + rng.choice(["", " ASC", " DESC"]) +
                         (rng.choice([" NULLS FIRST", " NULLS LAST"]) if rng.random() < 0.15 else ""))
        if rng.random() < 0.15:  # a sort term that is not a select item (SQLite's hidden column)
            terms.insert(0, rng.choice(["count(*)", "sum(g)", "max(s)", "min(ts)", "count(DISTINCT b)"]) +
                         rng.choice(["", " DESC"]))
        if rng.random() < 0.7:  # the group keys last: a total order, as models write it
            terms += [k for k in keys if k not in [t.split(" ")[0] for t in terms]]
        sql += " ORDER BY " + ", ".join(terms)
    if rng.random() < 0.4:
        sql += " LIMIT %d" % rng.randrange(0, 12)
        if rng.random() < 0.3:
            sql += " OFFSET %d" % rng.randrange(0, 5)
    return sql + ";"


def plain_query(rng):
    """A plain scan: row expressions, no aggregate; the output order is the
    scan's (or the ORDER BY's, with the row id-like column last)."""
    t = rng.choice(TABLES + ["big", "flat"])
    items = []
    for i in range(rng.randrange(1, 5)):
        e = rng.choice([key_expr(rng), rng.choice(["id", "f", "g + h", "s", "g * 1000000000000 + h"])])
        items.append(e + (" AS c%d" % i if rng.random() < 0.4 else ""))
    sql = "SELECT " + ", ".join(items) + " FROM x." + t
    if rng.random() < 0.8:
        sql += " WHERE " + pred(rng, 0)
    if rng.random() < 0.35:  # id is unique: a total order
        sql += " ORDER BY " + ", ".join(rng.sample(["g", "s DESC", "ts", "1", "h NULLS LAST"], rng.randrange(0, 3)) +
                                        [rng.choice(["id", "id DESC"])])
    if rng.random() < 0.4:
        sql += " LIMIT %d" % rng.randrange(0, 40)
        if rng.random() < 0.3:
            sql += " OFFSET %d" % rng.randrange(0, 9)
    return sql + ";"


def union_query(rng):
    """UNION ALL of supported branches (run here) and a literal one (SQLite's),
    as a statement or a WITH term; a compound ORDER BY / LIMIT stays SQLite's."""
    parts = []
    for _ in range(rng.randrange(2, 4)):
        t = rng.choice(TABLES + ["big"])
        w = " WHERE " + pred(rng, 1) if rng.random() < 0.6 else ""
        k = rng.random()
        if k < 0.4:
            parts.append("SELECT %s, count(*) FROM x.%s%s GROUP BY 1" % (key_expr(rng), t, w))
        elif k < 0.85:
            parts.append("SELECT %s, %s FROM x.%s%s" % (key_expr(rng), rng.choice(["id", "g", "s", "h * 2", "r"]), t, w))
        else:
            parts.append("SELECT 'lit', 7")
    sql = " UNION ALL ".join(parts)
    k = rng.random()
    if k < 0.3:
        sql += " ORDER BY 1, 2" + (" LIMIT %d" % rng.randrange(0, 20) if rng.random() < 0.5 else "")
    elif k < 0.5:
        sql = "WITH u(a, b) AS (%s) SELECT count(*), count(DISTINCT a), max(b) FROM u" % sql
    elif k < 0.7:
        sql = "WITH u AS (%s), v AS (SELECT count(*) AS n FROM x.big) SELECT * FROM u, v" % sql
    return sql + ";"


def main():
    if sys.argv[1] == "setup":
        print(setup(int(sys.argv[2])))
    else:
        rng = random.Random(int(sys.argv[2]))
        for k in range(int(sys.argv[3])):
            print("SELECT 'Q%d' AS q;" % k)
            r = rng.random()
            if r < 0.08:  # the bench's shape: an aggregate over a grouped subquery
                inner = "SELECT %s, count(*) AS n FROM x.%s%s GROUP BY 1" % (
                    key_expr(rng), rng.choice(TABLES), " WHERE " + pred(rng, 1) if rng.random() < 0.5 else "")
                print("SELECT count(*) AS groups, sum(n) AS rows, max(n) FROM (%s);" % inner)
            elif r < 0.14:
                print("SELECT * FROM (%s) AS sub;" % query(rng).rstrip(";"))
            elif r < 0.18:  # WITH terms run here, the rest (a join, a term over a term) on SQLite
                a, b = query(rng).rstrip(";"), query(rng).rstrip(";")
                print(rng.choice([
                    "WITH c AS (%s) SELECT * FROM c;" % a,
                    "WITH c AS (%s), d AS (SELECT count(*) AS n FROM c) SELECT * FROM d;" % a,
                    "WITH a AS (SELECT g, count(*) AS n, sum(b) AS sb FROM x.%s GROUP BY g), b AS (%s) "
                    "SELECT a.g, a.n, a.sb, (SELECT count(*) FROM b) AS nb FROM a ORDER BY a.g;"
                    % (rng.choice(TABLES), b),
                    "WITH a AS (SELECT g, count(*) AS n FROM x.big GROUP BY g), b AS (SELECT g, max(s) AS m FROM "
                    "x.flat GROUP BY g) SELECT a.g, n, m FROM a JOIN b ON a.g IS b.g ORDER BY a.g;"]))
            elif r < 0.24:  # a filter term inlined into the statement's SELECT or a term reading it
                print(filter_term(rng))
            elif r < 0.32:
                print(plain_query(rng))
            elif r < 0.38:
                print(union_query(rng))
            else:
                print(query(rng))


SUBQ = [  # scalar subqueries: run once by SQLite, a literal to the executor (the last one is correlated: declined)
    "g >= (SELECT min(g) FROM x.flat)", "s < (SELECT max(s) FROM x.big WHERE g > 3)",
    "ts > (SELECT min(ts) FROM x.empty)", "d >= (SELECT coalesce(max(d), '2024-06-01') FROM x.one)",
    "h = (SELECT max(h) FROM x.flat AS f2 WHERE f2.g = src.g)"]


def filter_term(rng):
    """WITH f AS (SELECT * [, key AS xk] FROM x.t [WHERE ...]) and a query
    over f: the executor inlines f's filter (docs/exec.md, WITH)."""
    outer = (query(rng) if rng.random() < 0.7 else plain_query(rng)).rstrip(";")
    m = re.search(r" FROM x\.(\w+)", outer)
    t = m.group(1)
    outer = outer[:m.start()] + " FROM f" + outer[m.end():]
    extra = rng.random() < 0.5
    body = "SELECT *%s FROM x.%s%s" % (", %s AS xk" % key_expr(rng) if extra else "",
                                       t + " AS src",
                                       " WHERE " + rng.choice([pred(rng, 1), pred(rng, 1), "1 = 1", "2 < 1", rng.choice(SUBQ)])
                                       if rng.random() < 0.7 else "")
    if extra and rng.random() < 0.5:  # the extra column as a key of the outer query
        outer = "SELECT xk, count(*), %s FROM f%s GROUP BY xk ORDER BY 1" % (
            agg_expr(rng), " WHERE " + pred(rng, 1) if rng.random() < 0.5 else "")
    if rng.random() < 0.3:  # read by a term, SQLite runs the rest
        return "WITH f AS (%s), a AS (%s) SELECT * FROM a;" % (body, outer)
    return "WITH f AS (%s) %s;" % (body, outer)


main()
