#!/usr/bin/env python3
"""Render every case of cases.txt with kiln (`kiln jinja`) and with Jinja2
configured as dbt configures it, and compare the outputs byte for byte;
every case of errors.txt must fail in both, and kiln's message must name
file:line:column. Usage: compare.py KILN_BIN CASES ERRORS TMPDIR"""
import os, re, subprocess, sys
import jinja2

kiln, cases_path, errors_path, tmp = sys.argv[1:5]
env = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])

def cases(path):
    name, lines = None, []
    for line in open(path, encoding="utf-8").read().split("\n"):
        m = re.match(r"^=== (\S+)$", line)
        if m:
            if name:
                yield name, "\n".join(lines)
            name, lines = m.group(1), []
        else:
            lines.append(line)
    if name:
        yield name, "\n".join(lines)

def write(name, text):
    path = os.path.join(tmp, name + ".sql")
    data = text.encode("utf-8")
    if name == "crlf":
        data = data.replace(b"\n", b"\r\n")
    with open(path, "wb") as f:
        f.write(data)
    return path, data.decode("utf-8")

failed = 0
n = 0
for name, text in cases(cases_path):
    n += 1
    path, src = write(name, text)
    want = env.from_string(src).render()
    r = subprocess.run([kiln, "jinja", path], capture_output=True)
    got = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0 or got != want:
        failed += 1
        print(f"FAIL {name}: rc={r.returncode} {r.stderr.decode()}\n  kiln:   {got!r}\n  jinja2: {want!r}")
for name, text in cases(errors_path):
    n += 1
    path, src = write("err_" + name, text)
    try:
        env.from_string(src).render()
        print(f"FAIL {name}: Jinja2 renders it; not an error case")
        failed += 1
        continue
    except Exception:
        pass
    r = subprocess.run([kiln, "jinja", path], capture_output=True)
    msg = r.stderr.decode()
    if r.returncode != 1 or not re.search(re.escape(path) + r":\d+:\d+: ", msg):
        failed += 1
        print(f"FAIL {name}: rc={r.returncode} stdout={r.stdout!r} stderr={msg!r}")
print(f"{n - failed}/{n} cases agree")
sys.exit(1 if failed else 0)
