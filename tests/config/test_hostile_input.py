"""Input that cannot hurt (issue #12, finding 8): whatever sits at the config path, and whatever
values it holds, loading ends with a config or one clear line per problem — never a traceback,
a hang, or a value that passes here and crashes the run later."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from proxlb.config.check import check_config
from proxlb.config.load import load_config
from proxlb.errors import ConfigError
from tests.config.conftest import FIXTURES, MINIMAL

Write = Callable[..., Path]

pytestmark = pytest.mark.timeout(60)


def problems_of(path: Path) -> tuple[str, ...]:
    """The problems of `path` as `config check` sees them; the run must see the very same."""
    result = check_config(path, {})
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.problems == result.problems or "does not exist" in str(info.value)
    assert not result.ok
    return result.problems


def only_problem(path: Path) -> str:
    found = problems_of(path)
    assert len(found) == 1, found
    assert "\n" not in found[0]
    return found[0]


# -- what sits at the path -------------------------------------------------------------------------


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "proxlb.yaml"
    os.mkfifo(fifo)
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(only_problem(fifo)), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO config blocked")
    assert done and "is a FIFO (named pipe), not a regular file" in done[0]


def test_device_is_refused_without_reading_it() -> None:
    problem = only_problem(Path("/dev/zero"))
    assert problem == "/dev/zero: cannot read config file: it is a device, not a regular file"


def test_directory_is_refused(tmp_path: Path) -> None:
    assert "is a directory, not a regular file" in only_problem(tmp_path)


def test_file_over_one_mib_is_refused(write_config: Write) -> None:
    path = write_config(MINIMAL + "#" * (1 << 20))
    assert "the limit is 1 MiB" in only_problem(path)


def test_not_utf8(write_config: Write, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    assert "is not UTF-8 text (byte 0xe9 at line 6)" in only_problem(path)


# -- YAML that attacks the parser ------------------------------------------------------------------


def test_alias_bomb_is_refused(write_config: Write) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    problem = only_problem(write_config(MINIMAL + "\n".join(lines) + "\n"))
    assert "expands to more than 100000 values" in problem and "line " in problem


def test_alias_loop_is_refused(write_config: Write) -> None:
    assert "refers to its own anchor" in only_problem(write_config(MINIMAL + "x: &a [1, *a]\n"))


@pytest.mark.parametrize(
    "nested", ["[" * 500 + "]" * 500, "{a: " * 500 + "1" + "}" * 500], ids=["lists", "mappings"]
)
def test_500_deep_nesting_is_a_clear_error(write_config: Write, nested: str) -> None:
    problem = only_problem(write_config(MINIMAL + f"x: {nested}\n"))
    assert "nested deeper than 50 levels" in problem and "line 6" in problem


def test_nul_byte_in_the_file(write_config: Write) -> None:
    path = write_config(MINIMAL.replace("user: proxlb@pve", "user: proxlb\x00@pve"))
    assert "control character #x0000 at line 3" in only_problem(path)


def test_nul_character_from_an_escape(write_config: Write) -> None:
    path = write_config(MINIMAL.replace("user: proxlb@pve", 'user: "proxlb\\0@pve"'))
    assert only_problem(path) == "proxmox_api.user: the value contains a NUL character; remove it"


def test_control_character_in_credentials(write_config: Write) -> None:
    path = write_config(MINIMAL.replace("token_id: proxlb", 'token_id: "prox\\nlb"'))
    assert only_problem(path).startswith("proxmox_api.token_id: contains a control character")


def test_number_longer_than_python_converts(write_config: Write) -> None:
    problem = only_problem(write_config(MINIMAL + "  timeout: " + "9" * 5000 + "\n"))
    assert "a number of 5000 characters is too long" in problem


def test_impossible_date(write_config: Write) -> None:
    assert "not a valid date" in only_problem(write_config(MINIMAL + "x: 2026-13-45\n"))


# -- values that used to pass `config check` and then crash or hang the run -------------------------


def _with(section: str, body: str) -> str:
    return MINIMAL + f"{section}:\n" + "".join(f"  {line}\n" for line in body.splitlines())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MINIMAL + "  timeout: 1.0e+30\n",
            "proxmox_api.timeout: 1e+30 is not valid; expected a whole number",
        ),
        (MINIMAL + "  timeout: true\n", "proxmox_api.timeout: true is not valid; expected a whole number"),
        (MINIMAL + "  retries: 100000000000\n", "proxmox_api.retries:"),
        (
            _with("proxmox_cluster", "maintenance_nodes_schedule: {duration: 1000000000}"),
            "proxmox_cluster.maintenance_nodes_schedule.duration: 1000000000 is not valid",
        ),
        (_with("service", "schedule: {interval: 100000000000000000000}"), "service.schedule.interval:"),
        (_with("service", "schedule: {interval: 9000}"), "interval 9000 hours is more than a year"),
        (_with("service", "delay: {enable: true, time: 600000, format: minutes}"), "service.delay.time:"),
        (_with("service", "stop_timeout: 1.0e+12"), "service.stop_timeout:"),
        (_with("balancing", "cost_per_gib: .inf"), "balancing.cost_per_gib: inf is not valid"),
        (_with("balancing", "cost_per_gib: .nan"), "balancing.cost_per_gib: nan is not valid"),
        (_with("balancing", "cpu_overcommit: .inf"), "balancing.cpu_overcommit: inf is not valid"),
        (_with("balancing", "min_improvement: .inf"), "balancing.min_improvement:"),
        (_with("balancing", "max_job_validation: 1.0e+40"), "balancing.max_job_validation:"),
        (_with("balancing", "parallel_jobs: 5000"), "balancing.parallel_jobs:"),
        (_with("balancing", "node_resource_reserve: {defaults: {memory: 1e300}}"), "defaults.memory:"),
        (_with("balancing", "weights: {memory: .inf}"), "balancing.weights.memory:"),
        (_with("solver", "timeout_seconds: .inf"), "solver.timeout_seconds:"),
        (MINIMAL.replace("pve1.example.com", "a" * 100_000), "proxmox_api.hosts[0]: a value of 100000"),
        (MINIMAL.replace("pve1.example.com", "a" * 300), "a host name of 300 characters is too long"),
        (MINIMAL.replace("pve1.example.com", "x" * 64 + ".lan"), "longer than 63 characters"),
        (MINIMAL.replace("pve1.example.com", "pve1..lan"), "empty label"),
        (MINIMAL + "  ca_file: /nonexistent/pve-root-ca.pem\n", "proxmox_api.ca_file: '/nonexistent/"),
    ],
)
def test_values_the_run_cannot_use_are_one_clear_line(write_config: Write, text: str, expected: str) -> None:
    problem = only_problem(write_config(text))
    assert expected in problem, problem


def test_ca_file_must_hold_a_certificate(write_config: Write, tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    problem = only_problem(write_config(MINIMAL + f"  ca_file: {junk}\n"))
    assert problem.endswith("holds no PEM certificate; expected the cluster CA certificate (a copy of "
                            "/etc/pve/pve-root-ca.pem)")  # fmt: skip
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    assert "is a FIFO" in only_problem(write_config(MINIMAL + f"  ca_file: {fifo}\n"))
    # with verification off the CA file is not used: only the existing warning
    off = load_config(write_config(MINIMAL + f"  ca_file: {junk}\n  ssl_verification: false\n"), {})
    assert any("ca_file is ignored" in w for w in off.warnings)


def test_secret_file_that_is_a_device_does_not_hang(write_config: Write) -> None:
    text = MINIMAL.replace("  token_secret: 00000000-0000-0000-0000-000000000000\n", "")
    problem = only_problem(write_config(text + "  token_secret_file: /dev/zero\n"))
    expected = "cannot read secret file '/dev/zero': it is a device, not a regular file"
    assert problem == f"proxmox_api.token_secret_file: {expected}"


def test_negative_parallel_jobs_is_warned_even_without_parallel(write_config: Write) -> None:
    loaded = load_config(write_config(_with("balancing", "parallel_jobs: -3")), {})
    assert any(w.startswith("balancing.parallel_jobs: -3 is below 1; 1 is used") for w in loaded.warnings)


def test_sane_values_and_upstream_spellings_still_load(write_config: Write) -> None:
    text = _with("balancing", "parallel_jobs: '3'\ncpu_overcommit: '1.5'\nbalanciness: 7.0")
    bal = load_config(write_config(text), {}).config.balancing
    assert (bal.parallel_jobs, bal.cpu_overcommit, bal.balanciness) == (3, 1.5, 7)
    assert load_config(FIXTURES / "upstream_example.yaml", {}).config.proxmox_api.timeout == 10


# -- secrets pasted under the wrong key (finding 10) -----------------------------------------------

TOKEN = "5e1f2a3b-9c8d-4e7f-a6b5-c4d3e2f1a0b9"


@pytest.mark.parametrize(
    ("text", "env"),
    [
        (MINIMAL.replace("00000000-0000-0000-0000-000000000000", TOKEN) + f"  timeout: '{TOKEN}'\n", {}),
        (MINIMAL + f"  timeout: '{TOKEN}'\n", {}),  # not even configured as the secret: looks like one
        (MINIMAL + f"balancing:\n  method: '{TOKEN}'\n", {"PROXLB_TOKEN_SECRET": TOKEN}),
        (MINIMAL + "  retries: 'hunter2-pw'\nservice:\n  ha_identity: [x]\n", {"PROXLB_PASS": "hunter2-pw"}),
        (MINIMAL.replace("token_id: proxlb", f"token_id: 'proxlb@pve!proxlb={TOKEN}'"), {}),
    ],
    ids=["same-as-token", "token-like", "env-token", "env-password", "token-in-token_id"],
)
def test_secret_under_the_wrong_key_is_never_echoed(
    write_config: Write, text: str, env: dict[str, str]
) -> None:
    path = write_config(text)
    result = check_config(path, env)
    assert not result.ok
    with pytest.raises(ConfigError) as info:
        load_config(path, env)
    secret = TOKEN if TOKEN in text or TOKEN in env.values() else "hunter2-pw"
    for output in (*result.problems, *result.warnings, str(info.value)):
        assert secret not in output, output
    assert result.problems == info.value.problems


def test_secret_redaction_keeps_ordinary_values_visible(write_config: Write) -> None:
    text = MINIMAL + "  timeout: soon\nbalancing:\n  method: pve1.example.com\n"
    found = problems_of(write_config(text))
    assert "proxmox_api.timeout: 'soon' is not valid" in found[0]
    assert "'pve1.example.com' is not valid" in found[1]


def test_fixture_is_yaml() -> None:  # guards the helper above against a silently broken MINIMAL
    assert yaml.safe_load(MINIMAL)["proxmox_api"]["user"] == "proxlb@pve"


def test_messages_stay_one_line_whatever_the_keys_hold(write_config: Write) -> None:
    path = write_config(MINIMAL + 'balancing:\n  "meth\\nod": memory\n  method: "ram\\n"\n')
    result = check_config(path, {}, lenient=True)
    assert result.problems and result.warnings
    assert all("\n" not in line for line in result.problems + result.warnings)
    assert any("meth\\x0aod" in w for w in result.warnings)


def test_empty_user_is_refused_at_load_as_the_api_client_would(write_config: Write) -> None:
    assert only_problem(write_config(MINIMAL.replace("user: proxlb@pve", "user: ''"))).startswith(
        "proxmox_api.user: '' is not valid; expected the API user as user@realm"
    )


def test_secret_pasted_under_a_valid_key_is_masked_in_the_effective_config(write_config: Write) -> None:
    text = (
        MINIMAL.replace("00000000-0000-0000-0000-000000000000", TOKEN)
        + f"service:\n  ha_identity: '{TOKEN}'\n"
    )
    result = check_config(write_config(text), {})
    assert result.ok and result.config is not None
    assert TOKEN not in str(result.to_dict())
    assert result.config["service"]["ha_identity"] == "********"
