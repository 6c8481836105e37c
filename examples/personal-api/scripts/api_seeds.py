#!/usr/bin/env python3
"""api_seeds.py - turn GitHub REST responses into the project's seeds.

Until kiln has a GitHub REST source, the repository metadata and the
commits of pushes made after 2025-10-07 (when PushEvent payloads lost their
commits, ../../docs/models.md "The flagship models") come from REST
responses laid out as `kiln gen github-api` writes them (and as a crawler of
the real API would store them):

  API/repos/OWNER/REPO.json             GET /repos/{o}/{r}
  API/repos/OWNER/REPO.history.json     {repo_id, names: [{from, full_name}],
                                          languages: [{from, language}]}
  API/compare/OWNER/REPO/BASE...HEAD.json  GET /repos/{o}/{r}/compare/{base}...{head}

Writes SEEDS/repos.csv (the current state, GET /repos/{o}/{r}: repo_id,
full_name, language, stargazers_count, updated_at), SEEDS/repo_history.csv
(one row per repo and change point of its name or language: repo_id,
valid_from, full_name, language) and
SEEDS/compare_commits.csv (one row per commit of a compare response:
repo_name, base, head, position, sha, author_date).

usage: api_seeds.py API_DIR SEEDS_DIR
"""
import csv
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    api, seeds = sys.argv[1], sys.argv[2]
    if not os.path.isdir(os.path.join(api, "repos")):
        sys.exit(f"api_seeds.py: {api}/repos: not a directory (expected `kiln gen github-api --out {api}` output)")
    os.makedirs(seeds, exist_ok=True)

    hist, cur = [], {}
    for root, _, files in os.walk(os.path.join(api, "repos")):
        for f in files:
            if f.endswith(".json") and not f.endswith(".history.json"):
                d = json.load(open(os.path.join(root, f), encoding="utf-8"))
                cur[d["id"]] = (d["full_name"], d.get("language"), d.get("stargazers_count"), d.get("updated_at"))
                continue
            if not f.endswith(".history.json"):
                continue
            d = json.load(open(os.path.join(root, f), encoding="utf-8"))
            # change points of either attribute; each row carries both values in effect from then on
            points = sorted({n["from"] for n in d["names"]} | {l["from"] for l in d["languages"]})
            for t in points:
                name = [n["full_name"] for n in d["names"] if n["from"] <= t][-1]
                langs = [l["language"] for l in d["languages"] if l["from"] <= t]
                lang = langs[-1] if langs else None
                hist.append((d["repo_id"], t, name, lang))
    hist.sort()
    with open(os.path.join(seeds, "repo_history.csv"), "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["repo_id", "valid_from", "full_name", "language"])
        for r in hist:
            w.writerow([r[0], r[1], r[2], "" if r[3] is None else r[3]])

    with open(os.path.join(seeds, "repos.csv"), "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["repo_id", "full_name", "language", "stargazers_count", "updated_at"])
        for rid in sorted(cur):
            n, l, st, up = cur[rid]
            w.writerow([rid, n, "" if l is None else l, "" if st is None else st, up or ""])

    rows = []
    cdir = os.path.join(api, "compare")
    for root, _, files in os.walk(cdir):
        for f in files:
            if not f.endswith(".json") or "..." not in f:
                continue
            base, head = f[: -len(".json")].split("...", 1)
            repo = os.path.relpath(root, cdir).replace(os.sep, "/")
            d = json.load(open(os.path.join(root, f), encoding="utf-8"))
            for i, c in enumerate(d.get("commits") or []):
                rows.append((repo, base, head, i + 1, c["sha"], c["commit"]["author"]["date"]))
    rows.sort()
    with open(os.path.join(seeds, "compare_commits.csv"), "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["repo_name", "base", "head", "position", "sha", "author_date"])
        w.writerows(rows)
    print(f"api_seeds.py: {len(cur)} repos, {len(hist)} repo_history rows, {len(rows)} compare_commits rows -> {seeds}")


if __name__ == "__main__":
    main()
