#!/usr/bin/env bash
# Install every Debian package kiln's build, tests and benchmarks need.
# Idempotent: does nothing when all are present. Run as root (or with sudo).
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format
  zlib1g-dev libisal-dev libdeflate-dev libzstd-dev libsnappy-dev
  libsqlite3-dev libjansson-dev libpcre2-dev libyaml-dev libssl-dev
  libcurl4-openssl-dev libedit-dev libmicrohttpd-dev
  chromium prometheus
  tmux
)
# Node.js (with npm) runs the independent readers; only install Debian's when
# no node/npm is on the machine, so a NodeSource install is left alone.
if ! command -v npm >/dev/null 2>&1; then PKGS+=(nodejs npm); fi
# libroaring (CRoaring): decodes kiln's Iceberg v3 deletion vectors in
# tests/e2e/interop_dv_check.py, independently of kiln's code (lake15)
PKGS+=(libroaring-dev)
# boto3: the second independent S3 client of tests/e2e/store_s3.sh (net13)
if ! python3 -c 'import boto3' >/dev/null 2>&1; then PKGS+=(python3-boto3); fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the independent readers used by tests and benchmarks
# (DuckDB, hyparquet, avsc, icebird). Reinstalled whenever package.json or
# the lock file changes (a stamp inside node_modules records their hash).
# `npm ci` installs exactly what the lock file pins and never rewrites it,
# so a fresh clone stays clean after `make test`.
here="$(cd "$(dirname "$0")/.." && pwd)"
node_dir="$here/tests/node"
want="$(cat "$node_dir/package.json" "$node_dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)"
have="$(cat "$node_dir/node_modules/.kiln-stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  echo "deps: installing npm test tools into tests/node" >&2
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$node_dir/node_modules/.kiln-stamp"
fi
