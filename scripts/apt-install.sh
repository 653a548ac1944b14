#!/usr/bin/env bash
# Best-effort `apt-get install` of the Debian packages named, for the optional real-world checks.
# A fresh machine may have no package lists yet: when the first try fails, refresh them once
# (apt-get update) and try again. Quiet; exits non-zero when the packages could not be installed,
# so callers print their own "skipped" message. Needs root and apt-get, else does nothing.
set -u
(($# > 0)) || exit 0
command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]] || exit 1
export DEBIAN_FRONTEND=noninteractive
try() { timeout 900 apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; }
try "$@" && exit 0
timeout 300 apt-get update -qq >/dev/null 2>&1
try "$@"
