# ProxLB container image: Debian 12 (the base of PVE 8) with ProxLB in a virtualenv, run as the
# non-root user proxlb (uid 10001); config mounted at /etc/proxlb/proxlb.yaml, state in the
# /var/lib/proxlb volume. Builds without a Docker daemon:
#   podman build -t proxlb .            (or: buildah bud -t proxlb .; or: docker build -t proxlb .)
#   podman run -d --name proxlb -v /etc/proxlb:/etc/proxlb:ro -v proxlb-state:/var/lib/proxlb proxlb
# `make container` builds it; `make container-test` runs one dry run against proxlb-sim
# (docs/operations.md §1.3). BASE_IMAGE lets an offline build use a locally imported Debian 12.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Optional extras (docs/dependencies.md): none by default, as the solver is off by default;
# --build-arg PROXLB_EXTRAS=solver adds the CP-SAT planner (OR-Tools, ~210 MB).
ARG PROXLB_EXTRAS=""
# Build stage only: versions come from the base image's Debian 12 release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The pinned dependencies of pyproject.toml, from PyPI. A CA bundle mounted at
# /etc/ssl/host-ca.crt for the build (make container mounts the host's) is trusted by pip,
# e.g. for a TLS-inspecting proxy.
RUN if [ -s /etc/ssl/host-ca.crt ]; then export PIP_CERT=/etc/ssl/host-ca.crt; fi \
 && python3 -m venv /opt/proxlb \
 && /opt/proxlb/bin/pip install --no-cache-dir --disable-pip-version-check "/src${PROXLB_EXTRAS:+[$PROXLB_EXTRAS]}" \
 && /opt/proxlb/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/proxlb --shell /usr/sbin/nologin proxlb \
 && install -d -o proxlb -g proxlb -m 0750 /var/lib/proxlb \
 && install -d -m 0755 /etc/proxlb
COPY --from=build /opt/proxlb /opt/proxlb
ENV PATH=/opt/proxlb/bin:$PATH \
    PYTHONUNBUFFERED=1
# Numeric, so runtimes can verify "non-root" without the image's /etc/passwd (uid 10001 = proxlb).
USER 10001:10001
VOLUME ["/var/lib/proxlb"]
# SIGTERM lets in-flight migrations be followed (service.stop_timeout, default 120 s):
# stop with `podman stop -t 180` / `docker stop -t 180`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["proxlb"]
CMD ["-c", "/etc/proxlb/proxlb.yaml"]
