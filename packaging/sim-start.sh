# Sourced by deb-test.sh and container-test.sh (which define `fail`): start a proxlb-sim with the
# bundled demo scenario on 127.0.0.1 (a port it picks) and wait until it has written its address.
#   [SIM_ARGS=…] start_sim PROXLB_SIM STATE_DIR JSON_OUT LOG
# Sets sim_pid (the caller's EXIT trap stops it). Fails after 60 s or when the simulator exits.
start_sim() {
    local bin=$1 state=$2 json=$3 log=$4
    # shellcheck disable=SC2086  # SIM_ARGS: extra `serve` options, e.g. --time-scale 50
    "$bin" serve --scenario demo --host 127.0.0.1 --port 0 --state-dir "$state" ${SIM_ARGS:-} >"$json" 2>"$log" &
    sim_pid=$!
    for _ in $(seq 1 120); do
        [[ -s "$json" ]] && return 0
        kill -0 "$sim_pid" 2>/dev/null || { cat "$log" >&2; fail "proxlb-sim exited"; }
        sleep 0.5
    done
    fail "proxlb-sim did not report its address within 60 s"
}
