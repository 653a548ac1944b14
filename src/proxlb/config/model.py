"""Pydantic v2 models of `proxlb.yaml`, compatible with upstream ProxLB 2.3.0. Pure; no I/O.

Invariants:
- Every model is frozen; YAML keys are upstream's spellings (`user`, `pass`, `pre-migration`);
  Python attributes are `user`, `password`, `pre_migration` (both spellings validate).
- Unknown keys are ignored by the models; `proxlb.config.unknown` reports them as warnings.
- Secrets are `SecretStr`: `str()`, `repr()` and `model_dump()` never show them.
- Cross-field checks that need the whole file (credentials) live in `proxlb.config.crosscheck`,
  so that they are reported together with type errors; the models check single fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr, model_validator

from proxlb.config.balancing import FROZEN, BalancingConfig, NameList, one_or_many, str_keys
from proxlb.config.enums import LogFormat, LogLevel, SolverMode, TimeFormat, case_insensitive
from proxlb.config.hosts import ApiEndpoint, parse_api_host
from proxlb.config.numbers import YEAR_HOURS, YEAR_MINUTES, YEAR_SECONDS, Bounded


def _secret_text(value: Any) -> Any:
    if value is None or value == "":
        return None  # an empty secret is no secret (upstream keys token auth on a truthy token_secret)
    if isinstance(value, (str, SecretStr)):
        return value
    # YAML turns unquoted 123456 or 0123 into numbers; guessing the text back could be wrong.
    kind = "number" if isinstance(value, (int, float)) else type(value).__name__
    raise ValueError(f"expected a quoted text string (YAML read a {kind}; put the secret in quotes)")


def _check_host(value: str) -> str:
    parse_api_host(value)
    return value


def _need_user(value: str) -> str:
    if not value.strip():
        raise ValueError("expected the API user as user@realm, e.g. 'proxlb@pve'")
    return value


def _need_hosts(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("no hosts are defined; expected at least one API host")
    return value


def _check_year(key: str, value: int, unit: TimeFormat) -> None:
    if unit.seconds(value) > YEAR_SECONDS:
        limit = YEAR_SECONDS // unit.seconds(1)
        name = unit.value
        raise ValueError(f"{key} {value} {name} is more than a year; expected at most {limit} {name}")


Secret = Annotated[SecretStr | None, BeforeValidator(_secret_text)]
ApiHost = Annotated[str, AfterValidator(_check_host)]
Format = Annotated[TimeFormat, BeforeValidator(case_insensitive(TimeFormat))]


class ProxmoxApiConfig(BaseModel):
    """`proxmox_api:` — where and how to reach the Proxmox VE API."""

    model_config = FROZEN

    hosts: Annotated[tuple[ApiHost, ...], BeforeValidator(one_or_many), AfterValidator(_need_hosts)]
    user: Annotated[str, AfterValidator(_need_user)]
    password: Secret = Field(default=None, alias="pass")
    token_id: str | None = None
    token_secret: Secret = None
    ssl_verification: bool = True
    timeout: Annotated[int, BeforeValidator(Bounded(1, 3600, "seconds"))] = 1
    retries: Annotated[int, BeforeValidator(Bounded(1, 100))] = 1
    wait_time: Annotated[int, BeforeValidator(Bounded(0, 3600, "seconds"))] = 1
    # our extensions
    # the reads of one cycle (collect, movers' configs) must be done within this; 0 = no limit
    cycle_read_timeout: Annotated[int, BeforeValidator(Bounded(0, 24 * 3600, "seconds"))] = 600
    ca_file: str | None = None
    pass_file: str | None = None
    token_secret_file: str | None = None

    def endpoints(self) -> tuple[ApiEndpoint, ...]:
        """Parsed `hosts`, in configured order (validated at load, so this does not raise)."""
        return tuple(parse_api_host(h) for h in self.hosts)

    @property
    def uses_token(self) -> bool:
        """True for API-token auth (keyed on `token_secret`, as upstream), False for password auth."""
        return self.token_secret is not None


class MaintenanceScheduleConfig(BaseModel):
    """`proxmox_cluster.maintenance_nodes_schedule:` — weekly maintenance windows per node."""

    model_config = FROZEN

    duration: Annotated[int, BeforeValidator(Bounded(0, YEAR_HOURS, "hours"))] = 0
    pre_migration: Annotated[int, BeforeValidator(Bounded(0, YEAR_MINUTES, "minutes"))] = Field(
        default=0, alias="pre-migration"
    )
    schedules: Annotated[
        dict[str, Annotated[tuple[str, ...], BeforeValidator(one_or_many)]], BeforeValidator(str_keys)
    ] = Field(default_factory=dict)


class ProxmoxClusterConfig(BaseModel):
    """`proxmox_cluster:` — nodes to drain, nodes to leave alone."""

    model_config = FROZEN

    maintenance_nodes: NameList = ()
    maintenance_nodes_schedule: MaintenanceScheduleConfig = MaintenanceScheduleConfig()
    ignore_nodes: NameList = ()
    overprovisioning: bool = False


class ScheduleConfig(BaseModel):
    """`service.schedule:` — pause between two daemon cycles."""

    model_config = FROZEN

    interval: Annotated[int, BeforeValidator(Bounded(1, YEAR_MINUTES))] = 12
    format: Format = TimeFormat.HOURS

    @model_validator(mode="after")
    def _at_most_a_year(self) -> ScheduleConfig:
        _check_year("interval", self.interval, self.format)
        return self

    @property
    def seconds(self) -> int:
        """The interval in seconds."""
        return self.format.seconds(self.interval)


class DelayConfig(BaseModel):
    """`service.delay:` — one-off wait before the first cycle."""

    model_config = FROZEN

    enable: bool = False
    time: Annotated[int, BeforeValidator(Bounded(0, YEAR_MINUTES))] = 1
    format: Format = TimeFormat.HOURS

    @model_validator(mode="after")
    def _at_most_a_year(self) -> DelayConfig:
        _check_year("time", self.time, self.format)
        return self

    @property
    def seconds(self) -> int:
        """The delay in seconds (0 when disabled)."""
        return self.format.seconds(self.time) if self.enable else 0


def _listen(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port such as 127.0.0.1:9810 or [::1]:9810")
    return str(value)


class MetricsConfig(BaseModel):
    """`service.metrics:` — the Prometheus endpoint (ours; off unless `listen` is set)."""

    model_config = FROZEN

    listen: Annotated[str | None, AfterValidator(_listen)] = None

    def address(self) -> tuple[str, int] | None:
        """(host, port) to bind, brackets removed from an IPv6 host; None when metrics are off."""
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _need_dir(value: str) -> str:
    if not value.strip():
        raise ValueError("an empty path is no directory; expected e.g. /var/lib/proxlb")
    return value


class ServiceConfig(BaseModel):
    """`service:` — one-shot or daemon, logging, HA leader gate, and our runtime settings."""

    model_config = FROZEN

    daemon: bool = True
    schedule: ScheduleConfig = ScheduleConfig()
    delay: DelayConfig = DelayConfig()
    log_level: Annotated[LogLevel, BeforeValidator(case_insensitive(LogLevel))] = LogLevel.INFO
    enable_ha: bool = False
    # our extensions
    state_dir: Annotated[str, AfterValidator(_need_dir)] = "/var/lib/proxlb"
    log_format: Annotated[LogFormat, BeforeValidator(case_insensitive(LogFormat))] = LogFormat.AUTO
    ha_identity: str | None = None
    stop_timeout: Annotated[int, BeforeValidator(Bounded(0, 24 * 3600, "seconds"))] = 120
    metrics: MetricsConfig = MetricsConfig()
    # unknown keys are warnings instead of errors (upstream configs carrying keys ProxLB does not use)
    lenient_config: bool = False


class SolverConfig(BaseModel):
    """`solver:` — upstream's optional CP-SAT pass; mapped onto our planners (docs/configuration.md)."""

    model_config = FROZEN

    enable: bool = False
    mode: Annotated[SolverMode, BeforeValidator(case_insensitive(SolverMode))] = SolverMode.SHADOW
    log_dir: str = "/var/log/proxlb/solver"
    timeout_seconds: Annotated[float, BeforeValidator(Bounded(0, 3600, "seconds", False, True))] = 30.0
    use_reservations: bool = True
    active_step_retries: Annotated[int, BeforeValidator(Bounded(0, 100))] = 3
    fallback_to_greedy: bool = True


class ProxlbConfig(BaseModel):
    """The whole `proxlb.yaml`. Only `proxmox_api` (with `hosts` and `user`) is required."""

    model_config = FROZEN

    proxmox_api: ProxmoxApiConfig
    proxmox_cluster: ProxmoxClusterConfig = ProxmoxClusterConfig()
    balancing: BalancingConfig = BalancingConfig()
    service: ServiceConfig = ServiceConfig()
    solver: SolverConfig = SolverConfig()
