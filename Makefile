# Each target sets up what it needs by itself: a fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint pytest fuzz bench soak upstream-env client-envs test-tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy

UPSTREAM_STAMP := .venv-upstream/.installed-stamp

pytest: $(STAMP) $(UPSTREAM_STAMP) client-envs test-tools
	$(VENV)/bin/pytest -n 2 --dist loadfile -q

test: lint pytest

# The property tests with random examples (make test derandomizes them so the gate is repeatable;
# tests/conftest.py): run this to look for new counterexamples.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=explore $(VENV)/bin/pytest -n 2 --dist loadfile -q \
	  tests/planning tests/rules tests/collect tests/config tests/sim

# All sizes and tables take long on a shared machine; pick some with e.g.
#   make bench BENCH_SIZES=5x40,32x4000 BENCH_SECTIONS=ours,cpsat BENCH_SOLVER_TIMEOUT=10
bench: $(STAMP) $(UPSTREAM_STAMP)
	$(PY) -m benchmarks.run

# Memory of a long-running daemon: RSS slope in kB per cycle after warm-up, at 150 and 4000 guests
# (issue #19; several minutes, not part of make test). SOAK_CYCLES=1000 for the full soak.
SOAK_CYCLES ?= 300
soak: $(STAMP)
	$(PY) -m benchmarks.soak --guests 150 4000 --cycles $(SOAK_CYCLES) --warmup 50

# Upstream ProxLB 2.3.0 in its own virtualenv (not a dependency of ours) for the side-by-side
# fidelity tests and benchmarks. Best effort: if it cannot be installed those tests are skipped.
upstream-env: $(UPSTREAM_STAMP)

$(UPSTREAM_STAMP):
	@($(PYTHON) -m venv .venv-upstream && .venv-upstream/bin/pip install --quiet proxlb==2.3.0 \
	  && touch $(UPSTREAM_STAMP)) || echo "upstream ProxLB 2.3.0 unavailable: its fidelity tests will be skipped"

# Third-party Proxmox clients, each pinned in its own virtualenv under .venv-clients/ (not
# dependencies of ours), for tests/clients. Built once (a stamp per pinned version), best effort:
# when PyPI cannot provide one, its tests are skipped and say so.
EXPORTER_VERSION   := 3.10.2
PVECONTROL_VERSION := 0.8.0
EXPORTER_STAMP     := .venv-clients/prometheus-pve-exporter/.installed-$(EXPORTER_VERSION)
PVECONTROL_STAMP   := .venv-clients/pvecontrol/.installed-$(PVECONTROL_VERSION)

client-envs: $(EXPORTER_STAMP) $(PVECONTROL_STAMP)

$(EXPORTER_STAMP):
	@($(PYTHON) -m venv --clear .venv-clients/prometheus-pve-exporter \
	  && .venv-clients/prometheus-pve-exporter/bin/pip install --quiet prometheus-pve-exporter==$(EXPORTER_VERSION) \
	  && touch $@) || echo "prometheus-pve-exporter $(EXPORTER_VERSION) unavailable: its client tests will be skipped"

$(PVECONTROL_STAMP):
	@($(PYTHON) -m venv --clear .venv-clients/pvecontrol \
	  && .venv-clients/pvecontrol/bin/pip install --quiet pvecontrol==$(PVECONTROL_VERSION) \
	  && touch $@) || echo "pvecontrol $(PVECONTROL_VERSION) unavailable: its client tests will be skipped"

# Headless Chromium (renders the HTML report) and Prometheus (scrapes /metrics) for the optional
# real-world tests. Best effort, only when missing and apt-get is usable: otherwise those tests skip.
test-tools:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || scripts/apt-install.sh chromium \
	  || echo "chromium unavailable: the report rendering test will be skipped"
	@command -v prometheus >/dev/null 2>&1 || scripts/apt-install.sh prometheus \
	  || echo "prometheus unavailable: the Prometheus scrape test will be skipped"

clean:
	rm -rf $(VENV) .venv-clients build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

# --- Debian package and container image (docs/operations.md §1) --------------------------------
# deb: dist/proxlb_<version>_<arch>.deb via dpkg-buildpackage + dh-virtualenv; deb-lint: lintian on it.
# deb-test: build, install, use (dry run against proxlb-sim as user proxlb), purge; needs root,
#   skips with a message when Debian's build tools cannot be installed.
# container: the Dockerfile built without a daemon (podman/buildah); container-test runs it once.
.PHONY: deb deb-lint deb-test container container-test

deb:
	packaging/build-deb.sh

# lintian on the built .deb (about 3 minutes; not part of `make deb`)
deb-lint:
	packaging/deb-lint.sh

deb-test:
	packaging/deb-test.sh

container:
	packaging/build-container.sh

container-test: $(STAMP)
	packaging/container-test.sh
