#!/usr/bin/env bash
# make deb-lint: lintian on the .deb that `make deb` built (building it first when it is missing).
# Errors fail; accepted warnings are overridden in debian/proxlb.lintian-overrides (each with its
# reason) and listed in docs/operations.md. The full report (hundreds of I: lines about the bundled
# wheels) goes to build/deb/lintian.txt; errors and warnings are shown here.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v lintian >/dev/null || { echo "make deb-lint: lintian is missing; apt-get install lintian" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
deb="dist/proxlb_${version}_$(dpkg --print-architecture).deb"
[[ -f "$deb" ]] || packaging/build-deb.sh
mkdir -p build/deb
start=$SECONDS
rc=0
lintian --fail-on error --info --display-info "$deb" >build/deb/lintian.txt 2>&1 || rc=$?
grep -E '^(E|W): ' build/deb/lintian.txt || true
echo "make deb-lint: $(grep -c '^E:' build/deb/lintian.txt || true) errors," \
     "$(grep -c '^W:' build/deb/lintian.txt || true) warnings in $((SECONDS - start)) s (see build/deb/lintian.txt)"
((rc == 0)) || { echo "make deb-lint: lintian found errors (exit $rc)" >&2; exit 1; }
