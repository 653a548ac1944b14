#!/usr/bin/env bash
# make container: build the Dockerfile without a Docker daemon (podman, else buildah) into
# localhost/proxlb:<version> and localhost/proxlb:latest.
# The base image is Debian 12 (docker.io/library/debian:bookworm-slim). When no registry is
# reachable, and we are root with debootstrap, a minimal Debian 12 is bootstrapped from the Debian
# mirror once and imported as localhost/proxlb-base:bookworm instead (BASE_IMAGE build argument).
set -euo pipefail
cd "$(dirname "$0")/.."

# --isolation chroot: the RUN steps need no OCI runtime, so the build also works where the
# machine forbids what runc/crun do at container start (e.g. setrlimit in a sandbox).
if command -v podman >/dev/null; then
    engine=(podman)
    build=(podman build --isolation chroot)
elif command -v buildah >/dev/null; then
    engine=(buildah)
    build=(buildah bud --isolation chroot)
else
    echo "make container: neither podman nor buildah found; install one: apt-get install podman" >&2
    exit 3
fi

base=docker.io/library/debian:bookworm-slim
local_base=localhost/proxlb-base:bookworm
have_image() { "${engine[0]}" image exists "$1" 2>/dev/null || "${engine[0]}" inspect "$1" >/dev/null 2>&1; }
if ! have_image "$base" && ! timeout 120 "${engine[0]}" pull -q "$base" >/dev/null 2>build/container-pull.err; then
    echo "make container: cannot pull $base: $(tail -n1 build/container-pull.err 2>/dev/null)" >&2
    if ! have_image "$local_base"; then
        if [[ $(id -u) != 0 ]] || ! command -v debootstrap >/dev/null; then
            echo "make container: no registry and no debootstrap (as root) to make a Debian 12 base;" \
                 "apt-get install debootstrap, or pull $base elsewhere and import it" >&2
            exit 3
        fi
        echo "make container: bootstrapping Debian 12 (minbase) from the Debian mirror as $local_base"
        root=build/container/rootfs
        rm -rf "$root" && mkdir -p build/container
        mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
        debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" \
            >build/container/debootstrap.log 2>&1 \
            || { tail -n 20 build/container/debootstrap.log >&2; exit 3; }
        # Like the official slim image: no package cache, lists, manual pages or translations.
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
               "$root"/usr/share/man/* "$root"/usr/share/locale/*
        tar -C "$root" -c . | "${engine[0]}" import - "$local_base" >/dev/null
        rm -rf "$root"
    fi
    base=$local_base
fi
mkdir -p build

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
start=$SECONDS
# Host network for the build steps: apt and pip reach their mirrors like the host does, pip
# trusting the host's CA bundle (mounted beside the image's own, which apt's ca-certificates
# must be free to write), e.g. for a TLS-inspecting proxy.
ca=/etc/ssl/certs/ca-certificates.crt
mounts=()
[[ -s "$ca" ]] && mounts=(--volume "$ca:/etc/ssl/host-ca.crt:ro")
"${build[@]}" --network host "${mounts[@]}" --build-arg BASE_IMAGE="$base" \
    -t "localhost/proxlb:$version" -t localhost/proxlb:latest -f Dockerfile .
echo "make container: built localhost/proxlb:$version from $base with ${engine[0]} in $((SECONDS - start)) s;" \
     "size $("${engine[0]}" image inspect --format '{{.Size}}' "localhost/proxlb:$version" | numfmt --to=iec)"
