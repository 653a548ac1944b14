#!/usr/bin/env bash
# make deb-test: build the .deb, install it on this machine, use it as the README says, purge it.
#   build -> apt-get install ./dist/proxlb_*.deb -> proxlb -v -> systemd-analyze verify on the
#   installed unit -> proxlb --dry-run as user 'proxlb' with the packaged config adapted to a
#   proxlb-sim on 127.0.0.1 -> the README's day one: step 3's config (pointed at the simulator),
#   step 4 (`proxlb --dry-run`) as root, then the service as user 'proxlb' (systemctl when systemd
#   runs, else the unit's ExecStartPre and ExecStart by hand): it must apply its plan ->
#   apt-get purge (with the token_secret file the docs tell admins to create) -> nothing left.
# Needs root and Debian's build tools; installs those best effort and otherwise skips (exit 0)
# with the reason. Leaves the machine as it found it: the simulator is stopped and the package
# purged on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "deb-test: SKIPPED: $*" >&2; exit 0; }
fail() { echo "deb-test: FAILED: $*" >&2; exit 1; }
step() { echo "deb-test: $*"; }
# shellcheck source=packaging/sim-start.sh
source packaging/sim-start.sh

{ [[ -r /etc/debian_version ]] && command -v apt-get >/dev/null; } || skip "not a Debian system (no apt-get)"
[[ $(id -u) == 0 ]] || skip "needs root to install and purge the package (run: sudo make deb-test)"
tools_missing() {
    ! command -v dpkg-buildpackage >/dev/null || ! command -v dh_virtualenv >/dev/null \
        || ! command -v lintian >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null
}
if tools_missing; then
    step "installing build tools: dpkg-dev debhelper dh-virtualenv python3-venv lintian"
    scripts/apt-install.sh dpkg-dev debhelper dh-virtualenv python3-venv lintian || true
    tools_missing && skip "dpkg-buildpackage/dh-virtualenv/lintian unavailable and not installable" \
        "(apt-get install dpkg-dev debhelper dh-virtualenv python3-venv lintian)"
fi
if dpkg-query -W -f='${Status}' proxlb 2>/dev/null | grep -q 'installed'; then
    skip "a proxlb package is already installed here; deb-test would replace and purge it"
fi

start=$SECONDS
packaging/build-deb.sh
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
deb="dist/proxlb_${version}_$(dpkg --print-architecture).deb"
build_s=$((SECONDS - start))

user_existed=0
getent passwd proxlb >/dev/null && user_existed=1
tmp=$(mktemp -d /tmp/proxlb-deb-test.XXXXXX)
sim_pid=""
installed=0
cleanup() {
    local rc=$?
    if [[ -n "$sim_pid" ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill -TERM "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    if ((installed)); then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q proxlb >/dev/null 2>&1 || true
    fi
    if ((!user_existed)) && getent passwd proxlb >/dev/null; then
        # Policy keeps the system user on purge; deb-test created it, so it removes it.
        userdel proxlb 2>/dev/null || true
        getent group proxlb >/dev/null && groupdel proxlb 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "installing $deb"
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$deb" >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; fail "apt-get install ./$deb"; }

step "proxlb -v: $(proxlb -v | head -n1)"
[[ "$(readlink -f /usr/bin/proxlb)" == /opt/venvs/proxlb/bin/proxlb ]] || fail "/usr/bin/proxlb is not the venv's"
command -v proxlb-sim >/dev/null || fail "proxlb-sim not on PATH"

# The package's promises: user, state directory, conffile, unit installed but not enabled.
getent passwd proxlb >/dev/null || fail "system user proxlb missing"
[[ "$(stat -c '%U:%G %a' /var/lib/proxlb)" == "proxlb:proxlb 750" ]] \
    || fail "/var/lib/proxlb is $(stat -c '%U:%G %a' /var/lib/proxlb), expected proxlb:proxlb 750"
[[ "$(stat -c '%U:%G %a' /etc/proxlb/proxlb.yaml)" == "root:proxlb 640" ]] \
    || fail "/etc/proxlb/proxlb.yaml is $(stat -c '%U:%G %a' /etc/proxlb/proxlb.yaml), expected root:proxlb 640"
dpkg-query -W -f='${Conffiles}\n' proxlb | grep -q '/etc/proxlb/proxlb.yaml' || fail "proxlb.yaml is not a conffile"
unit=$(dpkg -L proxlb | grep -E '/systemd/system/proxlb\.service$') || fail "no systemd unit in the package"
cmp -s "$unit" "build/deb/proxlb-$version/packaging/proxlb.service" \
    || fail "$unit differs from packaging/proxlb.service (the package must ship it unchanged)"
enabled=$(systemctl is-enabled proxlb.service 2>/dev/null || true)
[[ "$enabled" != enabled ]] || fail "proxlb.service is enabled right after install (must wait for configuration)"
step "unit $unit installed, is-enabled: ${enabled:-unknown}"

step "systemd-analyze verify $unit"
systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log" >&2; fail "systemd-analyze verify"; }
# The unit uses only keys systemd 252 (Debian 12) knows: any finding about it fails.
grep -i proxlb "$tmp/verify.log" && fail "systemd-analyze verify reported problems with the unit"
sed 's/^/deb-test:   verify: /' "$tmp/verify.log"

step "starting proxlb-sim on 127.0.0.1"
install -d -m 0755 "$tmp/sim"
SIM_ARGS="--time-scale 50" start_sim proxlb-sim "$tmp/sim" "$tmp/sim.json" "$tmp/sim.log"
chmod 0644 "$tmp/sim"/*.pem 2>/dev/null || true
chmod 0755 "$tmp"

# Adapt the packaged config in place (as an admin would): API endpoint, token and CA of the
# simulator, one cycle instead of the daemon. Everything else stays as shipped.
/opt/venvs/proxlb/bin/python packaging/sim-config.py "$tmp/sim.json" /etc/proxlb/proxlb.yaml /etc/proxlb/proxlb.yaml
step "proxlb --dry-run as user proxlb"
runuser -u proxlb -- proxlb --dry-run -c /etc/proxlb/proxlb.yaml >"$tmp/dry-run.out" 2>"$tmp/dry-run.err" \
    || { rc=$?; cat "$tmp/dry-run.out" "$tmp/dry-run.err" >&2; fail "proxlb --dry-run exited $rc"; }
sed -n '1,12p' "$tmp/dry-run.out"
/opt/venvs/proxlb/bin/python packaging/sim-writes.py "$tmp/sim.json" deb-test \
    || fail "the dry run wrote to the simulated cluster (or read nothing)"

# README step 3: its minimal config, verbatim, with the simulator's endpoint, token and CA.
step "README step 3: /etc/proxlb/proxlb.yaml from the README's minimal config"
/opt/venvs/proxlb/bin/python - README.md "$tmp/readme.yaml" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
step3 = text[text.index("3. **Write `/etc/proxlb/proxlb.yaml`"):]
block = re.search(r"```yaml\n(.*?)```", step3, re.S).group(1)
lines = block.splitlines()
indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(l[indent:] for l in lines) + "\n")
PY
/opt/venvs/proxlb/bin/python packaging/sim-config.py "$tmp/sim.json" "$tmp/readme.yaml" /etc/proxlb/proxlb.yaml
chown root:proxlb /etc/proxlb/proxlb.yaml && chmod 0640 /etc/proxlb/proxlb.yaml
proxlb config check >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "README step 3 config does not pass config check"; }
step "README step 4 as root: proxlb --dry-run"
timeout 120 proxlb --dry-run >"$tmp/step4.out" 2>"$tmp/step4.err" \
    || { rc=$?; cat "$tmp/step4.out" "$tmp/step4.err" >&2; fail "proxlb --dry-run as root exited $rc (124: it never returned)"; }
step "the service as user proxlb"
if [[ -d /run/systemd/system ]] && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start proxlb.service || true
    for _ in $(seq 1 120); do systemctl is-active --quiet proxlb.service || break; sleep 0.5; done
    result=$(systemctl show -p Result --value proxlb.service)
    [[ "$result" == success ]] || { journalctl -u proxlb --no-pager | tail -20 >&2; fail "proxlb.service: $result"; }
else
    # no systemd here: what the unit does, in its order (ExecStartPre with full privileges, then
    # ExecStart as User=proxlb)
    pre=$(sed -n 's/^ExecStartPre=+-//p' "$unit")
    [[ -n "$pre" ]] && $pre || true
    cmd=$(sed -n 's/^ExecStart=//p' "$unit")
    # shellcheck disable=SC2086
    timeout 300 runuser -u proxlb -- $cmd >"$tmp/service.out" 2>"$tmp/service.err" \
        || { rc=$?; cat "$tmp/service.out" "$tmp/service.err" >&2; fail "the service as proxlb exited $rc"; }
fi
owners=$(find /var/lib/proxlb -mindepth 1 ! -user proxlb -printf '%p ' 2>/dev/null)
[[ -z "$owners" ]] || fail "files in /var/lib/proxlb not owned by proxlb: $owners"
/opt/venvs/proxlb/bin/python - "$tmp/sim.json" <<'PY' || fail "the service applied no migration on the simulator"
import json, sys
import requests
sim = json.loads(open(sys.argv[1], encoding="utf-8").readline())
log = requests.get(f"{sim['url']}/_sim/requests", verify=sim["ca_file"], timeout=10).json()["data"]
moves = [e for e in log if e["method"] == "POST" and e["path"].endswith("/migrate")]
print(f"deb-test:   the service started {len(moves)} migration(s)")
sys.exit(0 if moves else 1)
PY
kill -TERM "$sim_pid"; wait "$sim_pid" || true; sim_pid=""

# the files the docs tell admins to create in /etc/proxlb go with a purge
echo "not-a-real-secret" >/etc/proxlb/token_secret

step "apt-get purge proxlb"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q proxlb >"$tmp/purge.log" 2>&1 \
    || { cat "$tmp/purge.log" >&2; fail "apt-get purge proxlb"; }
installed=0
left=()
for p in /opt/venvs/proxlb /usr/bin/proxlb /usr/bin/proxlb-sim /etc/proxlb /var/lib/proxlb \
         /usr/lib/sysusers.d/proxlb.conf /lib/systemd/system/proxlb.service \
         /usr/lib/systemd/system/proxlb.service /usr/share/doc/proxlb; do
    [[ -e "$p" || -L "$p" ]] && left+=("$p")
done
((${#left[@]} == 0)) || fail "left behind after purge: ${left[*]}"
dpkg-query -W -f='${Status}' proxlb 2>/dev/null | grep -q 'installed' && fail "dpkg still lists proxlb"
getent passwd proxlb >/dev/null && kept="the system user 'proxlb' (kept on purge, as policy says)" || kept="nothing"
step "after purge: no files left; kept: $kept"
step "PASSED in $((SECONDS - start)) s (build ${build_s} s)"
