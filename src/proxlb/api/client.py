"""The Proxmox VE API client: the only module that imports proxmoxer.

Role: `ProxmoxClient.get` implements the collect `ApiReader` port; `post` and the typed migrate and
task helpers serve the executor. Invariants:
- Idempotent reads fail over to the next configured host and are retried with exponential backoff.
- A write is re-sent only when it provably never left this process (connection refused); a
  migrate POST whose fate is unknown is resolved by looking at PVE's task list and guest state first.
- Every failure is an `ApiError(message, status, path, retryable)` carrying PVE's status and
  message; no password, token secret or ticket ever appears in a message or a log line.
- Rounds over the hosts stop early when asking again cannot help: every host failed TLS
  verification or name resolution, or — before any host ever answered — refused the connection
  (a wrong host or port). The error then says `retryable=False`, and a one-shot run ends at once.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import requests
import urllib3
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException

from proxlb.api.answer import StrictJsonSerializer, UnreadableAnswerError
from proxlb.api.diagnose import (
    RequestLogger,
    UnreachableError,
    auth_failure,
    classify_failure,
    format_pve_errors,
    privilege_hint,
    pve_answer,
    unreachable_summary,
)
from proxlb.api.guard import AnswerRefused, BodyGuard
from proxlb.api.settings import ApiSettings, Endpoint, settings_from_config
from proxlb.api.tasks import (
    Precondition,
    TaskStatus,
    missing_privileges,
    parse_precondition,
    parse_task_status,
    parse_version,
    pick_followup_task,
)
from proxlb.errors import ApiError, AuthError, ConfigError

log = logging.getLogger(__name__)

Params = dict[str, str | int]
_RETRY_STATUSES = frozenset({502, 503, 504})


class UncertainWriteError(ApiError):
    """A write whose request may have reached PVE although no answer came back."""


class Transport(Protocol):
    """One authenticated connection to one endpoint."""

    def request(self, method: str, path: str, params: Params) -> Any: ...


TransportFactory = Callable[[Endpoint, ApiSettings], Transport]


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


class ProxmoxerTransport:
    """proxmoxer's HTTPS backend bound to one endpoint; logs in (password auth) on creation."""

    def __init__(
        self, endpoint: Endpoint, settings: ApiSettings, stop: threading.Event | None = None
    ) -> None:
        if ":" in endpoint.host and not endpoint.is_ipv6:  # config check warned; never reaches a socket
            raise UnreachableError("not a valid IPv6 address nor a host name", sent=False, permanent=True)
        verify: bool | str = (settings.ca_file or True) if settings.verify_tls else False
        kwargs: dict[str, Any] = {
            "host": endpoint.netloc,
            "user": settings.user,
            "verify_ssl": verify,
            "timeout": settings.timeout_seconds,
            "service": "PVE",
        }
        if settings.uses_token:
            kwargs.update(token_name=settings.token_id, token_value=settings.token_secret)
        else:
            kwargs["password"] = settings.password
        self._secrets = settings.secrets()
        self._settings = settings
        self._endpoint = endpoint
        started = time.perf_counter()
        try:
            self._api = ProxmoxAPI(**kwargs)
        except requests.exceptions.RequestException as exc:
            raise classify_failure(exc, settings) from None
        except ValueError:  # a host the HTTP stack cannot parse: unusable, not a crash
            raise UnreachableError("unusable address", sent=False, permanent=True) from None
        except AuthenticationError as exc:
            code = re.search(r"code: (\d+)", str(exc))
            status = int(code.group(1)) if code else 401
            if status >= 500:  # PVE could not answer the login (busy, restarting): not a rejection
                text = f"{endpoint}: PVE answered HTTP {status} to the login"
                raise ApiError(text, status, "/access/ticket") from None
            answer = pve_answer(status, "authentication failure" if status == 401 else "")
            raise AuthError(auth_failure(settings, endpoint, answer), status, "/access/ticket") from None
        if not settings.uses_token:
            log.debug(
                "POST /access/ticket (password login of %s) → ok in %.0f ms (%s)",
                settings.user,
                (time.perf_counter() - started) * 1000,
                endpoint,
            )
        store = getattr(self._api, "_store", None)
        if isinstance(store, dict):  # every resource built from here on copies the store
            store["serializer"] = StrictJsonSerializer()
        session = getattr(self._api, "_store", {}).get("session")
        if session is not None:  # the guard reads the body first: the logger sees its size
            hooks = session.hooks.setdefault("response", [])
            hooks.append(BodyGuard(settings.deadline_seconds, stop))
            hooks.append(RequestLogger(endpoint, self._secrets))

    def request(self, method: str, path: str, params: Params) -> Any:
        resource = self._api(path.strip("/"))
        try:
            if method == "GET":
                return resource.get(**params)
            return resource.post(**params)
        except ResourceException as exc:
            message = " ".join(str(exc.content or exc.status_message or "").split())
            details = format_pve_errors(exc.errors)
            if details:
                message = f"{message} ({details})"
            status = int(exc.status_code)
            if status == 401 and self._settings.uses_token:
                text = auth_failure(self._settings, self._endpoint, pve_answer(status, message))
                raise AuthError(redact(text, self._secrets), status, path) from None
            raise ApiError(redact(message, self._secrets), status, path) from None
        except requests.exceptions.RequestException as exc:
            raise classify_failure(exc, self._settings) from None
        except UnreadableAnswerError as exc:  # another host may answer properly; a POST's fate is unknown
            raise UnreachableError(f"unreadable answer: {exc}", sent=True) from None
        except AnswerRefused as exc:  # asking this host again would bring the same flood or trickle
            raise UnreachableError(str(exc), sent=True, permanent=True) from None


class ProxmoxClient:
    """Failover-aware PVE API client. Thread-safe enough for one scheduler thread plus readers."""

    def __init__(
        self,
        settings: ApiSettings,
        transport_factory: TransportFactory | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self._factory: TransportFactory = transport_factory or ProxmoxerTransport
        self._transports: dict[Endpoint, Transport] = {}
        self._current = 0
        self._stop = stop_event or threading.Event()
        self._lock = threading.Lock()
        self.request_count = 0
        self.write_count = 0
        self._answered = False  # some host has answered (with data or an HTTP error) at least once
        self._read_deadline: float | None = None  # monotonic; reads after it fail (set_read_deadline)
        self._read_budget = 0.0
        self._read_refused: str | None = None  # the first read refused for the deadline
        # (method, HTTP status; 0 = no answer) per request, e.g. for metrics; set by the caller
        self.observer: Callable[[str, int], None] | None = None

    # -- generic -------------------------------------------------------------------------------
    @property
    def endpoint(self) -> Endpoint:
        return self.settings.endpoints[self._current]

    def set_read_deadline(self, seconds: float | None) -> str | None:
        """Bound the reads of one cycle: a GET asked for more than `seconds` from now fails with a
        retryable error naming `proxmox_api.cycle_read_timeout`. None (or 0) lifts the bound.

        Returns the error of the first GET refused since the previous call, or None: callers that
        tolerate a failed optional read must still learn that the cycle ran out of time."""
        refused, self._read_refused = self._read_refused, None
        self._read_budget = seconds or 0.0
        self._read_deadline = time.monotonic() + seconds if seconds else None
        return refused

    def get(self, path: str, **params: str | int) -> Any:
        """GET with failover and retries; returns PVE's unwrapped `data`."""
        if self._read_deadline is not None and time.monotonic() > self._read_deadline:
            message = (
                f"reading the cluster took longer than {self._read_budget:.0f} s "
                f"(proxmox_api.cycle_read_timeout); GET {path} not sent, this cycle is abandoned"
            )
            self._read_refused = self._read_refused or message
            raise ApiError(message, 0, path, retryable=True)
        return self._call("GET", path, dict(params))

    def post(self, path: str, **params: str | int) -> Any:
        """POST; re-sent to another host only if the first attempt provably never left."""
        self.write_count += 1
        return self._call("POST", path, dict(params))

    def _transport(self, endpoint: Endpoint) -> Transport:
        transport = self._transports.get(endpoint)
        if transport is None:
            if self._factory is ProxmoxerTransport:
                transport = ProxmoxerTransport(endpoint, self.settings, self._stop)
            else:
                transport = self._factory(endpoint, self.settings)
            self._transports[endpoint] = transport
        return transport

    def _call(self, method: str, path: str, params: Params) -> Any:
        endpoints = self.settings.endpoints
        idempotent = method == "GET"
        attempts = self.settings.retries if idempotent else 1
        problems: list[tuple[Endpoint, str]] = []
        retryable = True
        for attempt in range(attempts):
            permanent = 0
            for offset in range(len(endpoints)):
                index = (self._current + offset) % len(endpoints)
                endpoint = endpoints[index]
                try:
                    result = self._attempt(endpoint, method, path, params)
                except UnreachableError as exc:
                    problems.append((endpoint, str(exc)))
                    # refused before anyone ever answered: a wrong host/port, not a restart
                    permanent += exc.permanent or (exc.refused and not self._answered)
                    self._transports.pop(endpoint, None)
                    if exc.sent and not idempotent:
                        raise UncertainWriteError(
                            f"{method} {path}: outcome unknown ({exc})", 0, path
                        ) from None
                    log.debug("Proxmox API host %s: %s (%s %s)", endpoint, exc, method, path)
                    continue
                except ApiError as exc:
                    self._answered = self._answered or exc.status > 0
                    if idempotent and exc.status in _RETRY_STATUSES:
                        problems.append((endpoint, pve_answer(exc.status, str(exc))))
                        continue
                    raise
                if index != self._current:
                    failed = "; ".join(f"{e}: {why}" for e, why in problems[-len(endpoints) :])
                    log.warning("Proxmox API failover: now using %s (%s)", endpoint, failed)
                    self._current = index
                self._answered = True
                return result
            if permanent == len(endpoints):
                retryable = False
                break  # retrying cannot fix a certificate, a host name or a port nobody listens on
            if attempt + 1 < attempts:
                delay = self.settings.backoff_seconds * (2**attempt)
                log.debug("no Proxmox API host answered %s %s; next round in %.0f s", method, path, delay)
                if self._stop.wait(delay):
                    break
        summary = unreachable_summary(method, path, problems, self.settings)
        raise ApiError(summary, 0, path, retryable=retryable)

    def _attempt(self, endpoint: Endpoint, method: str, path: str, params: Params) -> Any:
        if self.observer is None:
            return self._attempt_once(endpoint, method, path, params)
        try:
            result = self._attempt_once(endpoint, method, path, params)
        except ApiError as exc:
            self.observer(method, exc.status)
            raise
        except UnreachableError:
            self.observer(method, 0)
            raise
        self.observer(method, 200)
        return result

    def _attempt_once(self, endpoint: Endpoint, method: str, path: str, params: Params) -> Any:
        self.request_count += 1
        for relogin in (False, True):
            try:
                return self._transport(endpoint).request(method, path, params)
            except ApiError as exc:
                # An expired or un-renewable ticket (e.g. after a long failover): log in afresh once.
                if exc.status == 401 and not relogin and not self.settings.uses_token:
                    self._transports.pop(endpoint, None)
                    continue
                if exc.status == 401 and not isinstance(exc, AuthError):
                    text = auth_failure(self.settings, endpoint, pve_answer(401, str(exc)))
                    raise AuthError(text, 401, path) from None
                raise
            except AuthenticationError:
                self._transports.pop(endpoint, None)
                if relogin:
                    text = auth_failure(self.settings, endpoint, pve_answer(401, "authentication failure"))
                    raise AuthError(text, 401, path) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- startup checks ------------------------------------------------------------------------
    def check_permissions(self) -> None:
        """Raise ConfigError naming every required privilege the API user lacks."""
        try:
            data = self.get("/access/permissions")
        except ApiError as exc:
            if "no such user" in str(exc):
                raise ConfigError(
                    f"API user {self.settings.user} does not exist on the cluster", (str(exc),)
                ) from None
            raise
        missing = missing_privileges(data)
        if missing:
            who = (
                f"API token {self.settings.user}!{self.settings.token_id}"
                if self.settings.uses_token
                else (f"API user {self.settings.user}")
            )
            raise ConfigError(
                f"{who} lacks privileges: {', '.join(missing)} — {privilege_hint(self.settings)}",
                tuple(f"missing privilege {p} (grant it on path '/')" for p in missing),
            )

    def node_versions(self) -> dict[str, tuple[int, int, int] | None]:
        """PVE version per online node (None when a node would not say)."""
        versions: dict[str, tuple[int, int, int] | None] = {}
        nodes = self.get("/nodes")
        for entry in nodes if isinstance(nodes, list) else []:
            if not isinstance(entry, dict) or entry.get("status") != "online":
                continue
            name = str(entry.get("node", ""))
            try:
                versions[name] = parse_version(self.get(f"/nodes/{name}/version"))
            except ApiError as exc:
                log.warning("could not read the PVE version of node %s: %s", name, exc)
                versions[name] = None
        return versions

    def ha_master(self) -> str | None:
        """The PVE HA CRM master node, or None when HA was never configured."""
        data = self.get("/cluster/ha/status/manager_status")
        status = data.get("manager_status") if isinstance(data, dict) else None
        master = status.get("master_node") if isinstance(status, dict) else None
        return str(master) if master else None

    # -- migration -----------------------------------------------------------------------------
    def migrate_qemu(
        self,
        node: str,
        vmid: int,
        target: str,
        *,
        online: bool,
        with_local_disks: bool,
        with_conntrack_state: bool = False,
    ) -> str:
        params: Params = {"target": target, "online": int(online), "with-local-disks": int(with_local_disks)}
        if with_conntrack_state and online:
            params["with-conntrack-state"] = 1
        return self._migrate(node, "qemu", vmid, params)

    def migrate_lxc(self, node: str, vmid: int, target: str, *, restart: bool = True) -> str:
        return self._migrate(node, "lxc", vmid, {"target": target, "restart": int(restart)})

    def _migrate(self, node: str, kind: str, vmid: int, params: Params) -> str:
        path = f"/nodes/{node}/{kind}/{vmid}/migrate"
        asked_at = time.time()
        try:
            return str(self.post(path, **params))
        except ApiError as exc:
            if not isinstance(exc, UncertainWriteError):
                raise
            log.warning("migrate request for %s %d may or may not have reached PVE; checking", kind, vmid)
        upid = self._recent_migrate_task(node, kind, vmid, asked_at - 5)
        if upid is not None:
            return upid
        located = self.guest_location(vmid)
        if located is not None and located[0] == node and not located[1]:
            log.warning("no migrate task for %s %d found; sending the request once more", kind, vmid)
            return str(self.post(path, **params))
        raise ApiError(f"migrate request for {vmid} had an unknown outcome and no task was found", 0, path)

    def _recent_migrate_task(self, node: str, kind: str, vmid: int, since: float) -> str | None:
        tasks = self.get(f"/nodes/{node}/tasks", vmid=vmid, since=int(since), source="all", start=0, limit=20)
        real = "qmigrate" if kind == "qemu" else "vzmigrate"
        return pick_followup_task(tasks, vmid, real, since) or pick_followup_task(
            tasks, vmid, "hamigrate", since
        )

    def task_status(self, node: str, upid: str) -> TaskStatus:
        return parse_task_status(upid, node, self.get(f"/nodes/{node}/tasks/{upid}/status"))

    def find_ha_followup_task(self, node: str, vmid: int, kind: str, since: float) -> str | None:
        """After a `hamigrate` finished: the qmigrate (VM) or vzmigrate (CT) task the HA LRM started."""
        task_type = "qmigrate" if kind == "qemu" else "vzmigrate"
        tasks = self.get(
            f"/nodes/{node}/tasks",
            typefilter=task_type,
            vmid=vmid,
            since=int(since),
            source="all",
            start=0,
            limit=10,
        )
        return pick_followup_task(tasks, vmid, task_type, since)

    def migrate_precondition(
        self, node: str, kind: str, vmid: int, target: str, with_local_disks: bool = True
    ) -> Precondition:
        """PVE's own verdict on a move (GET .../migrate). A missing endpoint (501) allows it."""
        try:
            data = self.get(f"/nodes/{node}/{kind}/{vmid}/migrate", target=target)
        except ApiError as exc:
            if exc.status == 501:
                return Precondition(True)
            if exc.status and exc.status < 595:
                return Precondition(False, f"PVE: {exc}")
            raise
        return parse_precondition(kind, target, data, with_local_disks)

    def guest_location(self, vmid: int) -> tuple[str, str | None] | None:
        """(node, lock) of a guest according to /cluster/resources; None when not found."""
        for entry in self.get("/cluster/resources", type="vm") or []:
            if isinstance(entry, dict) and entry.get("vmid") == vmid:
                lock = entry.get("lock")
                return str(entry.get("node")), str(lock) if lock else None
        return None


def connect(
    api_config: Any,
    transport_factory: TransportFactory | None = None,
    stop_event: threading.Event | None = None,
) -> ProxmoxClient:
    """Build a client from the `proxmox_api` config section (or ready `ApiSettings`).

    Warns loudly when TLS verification is off. The first request selects a working host.
    """
    settings = api_config if isinstance(api_config, ApiSettings) else settings_from_config(api_config)
    if not settings.verify_tls:
        log.warning(
            "TLS certificate verification of the Proxmox API is DISABLED (ssl_verification: false): "
            "anyone on the network path can read the credentials. Use ca_file instead."
        )
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return ProxmoxClient(settings, transport_factory=transport_factory, stop_event=stop_event)
