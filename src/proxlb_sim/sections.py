"""Optional scenario sections for the read endpoints beyond placement: subscription, replication jobs,
backup jobs, storage content extras, task history, users/tokens/groups/ACLs (`auth:`), guest
snapshots and the QEMU guest agent. Pure data models (pydantic), plus their cross-checks.

Every section has a default that matches a freshly installed cluster: no subscription key, no
replication job, no backup job (so every guest is "not backed up"), no ISO or template files, and a
few days of routine task history.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxlb_sim.roles import ROLES

_TIME = re.compile(r"^(?:(?P<days>[a-z]{3}(?:[.,][a-z]{3})*)\s+)?(?P<h>\d{1,2}):(?P<m>\d{2})$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SubscriptionSpec(BaseModel):
    """`GET /nodes/{node}/subscription` (the same answer for every node)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["notfound", "active", "new", "invalid", "expired", "suspended"] = "notfound"
    level: Literal["c", "b", "s", "p"] = "c"
    nextduedate: str = Field(default="2027-06-30", pattern=r"^\d{4}-\d{2}-\d{2}$")
    regdate: str = Field(default="2025-06-30 00:00:00", pattern=r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class SnapshotSpec(BaseModel):
    """One entry of a guest's snapshot list (`GET .../{vmid}/snapshot`, without `current`)."""

    model_config = ConfigDict(extra="ignore")
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{1,39}$")
    snaptime: int = Field(default=0, ge=0)
    description: str = ""
    vmstate: int = Field(default=0, ge=0, le=1)
    parent: str | None = None


class AgentSection(BaseModel):
    """QEMU guest agent: a running VM with `agent` enabled in its config answers, unless listed in
    `not_running` (agent configured but not answering inside the guest)."""

    model_config = ConfigDict(extra="forbid")
    not_running: list[int] = []
    os: dict[int, str] = {}  # vmid -> pretty OS name (default: from the config's ostype)


class ReplicationJob(BaseModel):
    """A storage replication job (`/cluster/replication`); its id is `<guest>-<jobnum>`."""

    model_config = ConfigDict(extra="forbid")
    guest: int = Field(ge=100)
    target: str
    jobnum: int = Field(default=0, ge=0)
    schedule: str = "*/15"
    rate: float | None = Field(default=None, gt=0)
    comment: str | None = None
    disable: int | None = None
    fail_count: int = Field(default=0, ge=0)
    error: str | None = None


def parse_schedule(text: str) -> tuple[tuple[int, ...], int, int] | None:
    """(weekday numbers 0=Mon.., hour, minute) of a `[dow[,dow]] HH:MM` calendar event, else None."""
    match = _TIME.match(text.strip().lower())
    if not match:
        return None
    hour, minute = int(match.group("h")), int(match.group("m"))
    if hour > 23 or minute > 59:
        return None
    days: list[int] = []
    for part in (match.group("days") or "").split(","):
        if not part:
            continue
        if ".." in part:
            first, last = part.split("..")
            if first not in DAYS or last not in DAYS:
                return None
            days.extend(range(DAYS.index(first), DAYS.index(last) + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            return None
    return (tuple(sorted(set(days))) or tuple(range(7)), hour, minute)


class BackupJob(BaseModel):
    """A scheduled vzdump job (`jobs.cfg`); selection like PVE: `all` (minus `exclude`), `vmid` or `pool`."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    schedule: str = "21:00"
    storage: str = "local"
    mode: Literal["snapshot", "suspend", "stop"] = "snapshot"
    compress: Literal["0", "1", "gzip", "lzo", "zstd"] = "zstd"
    enabled: int = Field(default=1, ge=0, le=1)
    all: int = Field(default=0, ge=0, le=1)
    vmid: str | None = Field(default=None, pattern=r"^\d+(,\d+)*$")
    exclude: str | None = Field(default=None, pattern=r"^\d+(,\d+)*$")
    pool: str | None = None
    node: str | None = None
    keep_last: int = Field(default=3, ge=1)
    comment: str | None = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if parse_schedule(value) is None:
            raise ValueError("schedule must look like '21:00', 'sat 02:30' or 'mon..fri 01:00'")
        return value


class BackupSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobs: list[BackupJob] = []


class ContentSection(BaseModel):
    """Files beside guest volumes: ISO images and container templates on storages with that content."""

    model_config = ConfigDict(extra="forbid")
    iso: list[str] = []
    vztmpl: list[str] = []


class HistorySection(BaseModel):
    """Finished tasks seeded at start: `days` of routine activity before the simulator's start time."""

    model_config = ConfigDict(extra="forbid")
    days: float = Field(default=3.0, ge=0, le=60)


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groupid: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    comment: str | None = None
    members: list[str] = []


class TokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9._-]*$")
    secret: str
    privsep: int = 0
    expire: int = 0


class UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userid: str = Field(pattern=r"^[^\s:/@!]+@[A-Za-z0-9._-]+$")
    password: str | None = None
    enable: int = 1
    expire: int = 0
    firstname: str | None = None
    lastname: str | None = None
    email: str | None = None
    comment: str | None = None
    tokens: list[TokenSpec] = []


class AclEntry(BaseModel):
    """`ugid` is a user (`name@realm`), a token (`name@realm!id`) or a group; give `privs` or a
    built-in `roleid` (PVEAuditor, PVEVMAdmin, Administrator, ...)."""

    model_config = ConfigDict(extra="forbid")
    path: str = "/"
    ugid: str
    privs: list[str] | None = None
    roleid: str | None = None
    propagate: int = 1


class AuthSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[UserSpec] = []
    groups: list[GroupSpec] = []
    acl: list[AclEntry] = []


class Sectioned(Protocol):
    """The parts of a `Scenario` `check_sections` reads (typed here so this module needs no import of
    scenario.py, which imports it)."""

    @property
    def replication(self) -> list[ReplicationJob]: ...

    @property
    def backup(self) -> BackupSection: ...

    @property
    def snapshots(self) -> dict[int, list[SnapshotSpec]]: ...

    @property
    def agent(self) -> AgentSection: ...

    @property
    def storages(self) -> Sequence[Any]: ...

    @property
    def pools(self) -> Sequence[Any]: ...

    @property
    def pools_in_resources(self) -> Sequence[Any]: ...

    @property
    def guests(self) -> Sequence[Any]: ...

    @property
    def auth(self) -> Any: ...


def check_sections(s: Sectioned, known: set[str], kinds: Mapping[int, str]) -> list[str]:
    """Replication, backup and access sections name things that exist."""
    problems: list[str] = []
    for i, job in enumerate(s.replication):
        if job.guest not in kinds:
            problems.append(f"replication[{i}]: guest {job.guest} is not in resources")
        if job.target not in known:
            problems.append(f"replication[{i}]: unknown target node {job.target!r}")
    ids = [f"{j.guest}-{j.jobnum}" for j in s.replication]
    problems.extend(f"replication: job {i} appears twice" for i in sorted(set(ids)) if ids.count(i) > 1)
    storages = {st.storage for st in s.storages}
    pools = {p.poolid for p in s.pools} | {p.pool for p in s.pools_in_resources}
    pools |= {g.pool for g in s.guests if g.pool}
    for i, bjob in enumerate(s.backup.jobs):
        if storages and bjob.storage not in storages:
            problems.append(f"backup.jobs[{i}]: unknown storage {bjob.storage!r}")
        if bjob.node is not None and bjob.node not in known:
            problems.append(f"backup.jobs[{i}]: unknown node {bjob.node!r}")
        if bjob.pool is not None and bjob.pool not in pools:
            problems.append(f"backup.jobs[{i}]: unknown pool {bjob.pool!r}")
        if not (bjob.all or bjob.vmid or bjob.pool):
            problems.append(f"backup.jobs[{i}]: select guests with all: 1, vmid: '100,101' or pool")
    for vmid, snaps in s.snapshots.items():
        if vmid not in kinds:
            problems.append(f"snapshots: vmid {vmid} is not in resources")
        names = [x.name for x in snaps]
        problems.extend(
            f"snapshots.{vmid}: snapshot {n!r} appears twice"
            for n in sorted(set(names))
            if names.count(n) > 1
        )
        problems.extend(
            f"snapshots.{vmid}: {x.name!r} has unknown parent {x.parent!r}"
            for x in snaps
            if x.parent is not None and x.parent not in names
        )
    problems.extend(
        f"agent.not_running: {v} is not a VM in resources"
        for v in s.agent.not_running
        if kinds.get(v) != "qemu"
    )
    users = {u.userid for u in s.auth.users} | {"root@pam"}
    for group in s.auth.groups:
        problems.extend(
            f"auth.groups.{group.groupid}: unknown user {m!r}" for m in group.members if m not in users
        )
    for i, acl in enumerate(s.auth.acl):
        if (acl.privs is None) == (acl.roleid is None):
            problems.append(f"auth.acl[{i}]: give either privs or roleid")
        elif acl.roleid is not None and acl.roleid not in ROLES:
            problems.append(f"auth.acl[{i}]: unknown role {acl.roleid!r} (built-in: {', '.join(ROLES)})")
    return problems
