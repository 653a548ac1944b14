"""Authentication and permissions of the simulated PVE API: tickets, CSRF tokens, API tokens, ACLs.

Invariants: the default user `root@pam` (password `DEFAULT_PASSWORD`) and its token `root@pam!proxlb`
(secret `DEFAULT_TOKEN_SECRET`) always exist unless the scenario redefines them; root@pam has every
privilege everywhere. Tickets are signed with a per-process key and expire after 2 hours of REAL time
(auth is not part of the simulation, so a high time scale never expires a client's ticket).
Secrets are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field

from proxlb_sim.access import ROLES, acl_privs
from proxlb_sim.pveerror import PveError
from proxlb_sim.scenario import AuthSection

DEFAULT_USER = "root@pam"
DEFAULT_PASSWORD = "proxlb-sim"
DEFAULT_TOKEN_ID = "proxlb"
DEFAULT_TOKEN_SECRET = "5e1f2c3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f"
TICKET_LIFETIME_S = 7200
ALL_PRIVS: tuple[str, ...] = tuple(sorted(ROLES["Administrator"]))  # root@pam has every privilege
_TICKET = re.compile(r"^PVE:([^:]+):([0-9A-F]{8})::(.+)$")


@dataclass
class _User:
    userid: str
    password: str | None
    enabled: bool
    tokens: dict[str, tuple[str, bool, int]] = field(default_factory=dict)  # id -> (secret, privsep, expire)


@dataclass(frozen=True)
class Identity:
    """Who is calling: `userid` plus `tokenid` for API tokens; `via_ticket` when CSRF applies."""

    userid: str
    tokenid: str | None = None
    via_ticket: bool = False

    @property
    def task_user(self) -> str:
        """The user field of UPIDs: `user@realm` or `user@realm!token`."""
        return f"{self.userid}!{self.tokenid}" if self.tokenid else self.userid


ROOT = Identity(DEFAULT_USER)


class AuthStore:
    """Users, tokens and ACLs from the scenario, plus ticket signing."""

    def __init__(self, section: AuthSection, cluster_name: str) -> None:
        self._key = secrets.token_bytes(32)
        self.cluster_name = cluster_name
        self.users: dict[str, _User] = {
            DEFAULT_USER: _User(
                DEFAULT_USER, DEFAULT_PASSWORD, True, {DEFAULT_TOKEN_ID: (DEFAULT_TOKEN_SECRET, False, 0)}
            )
        }
        for u in section.users:
            tokens = {t.id: (t.secret, bool(t.privsep), t.expire) for t in u.tokens}
            if u.userid == DEFAULT_USER:
                tokens = {**self.users[DEFAULT_USER].tokens, **tokens}
            self.users[u.userid] = _User(u.userid, u.password, bool(u.enable), tokens)
        self.section = section
        self.groups_of: dict[str, set[str]] = {}
        for group in section.groups:
            for member in group.members:
                self.groups_of.setdefault(member, set()).add(group.groupid)
        self.acl = [
            (a.path.rstrip("/") or "/", a.ugid, acl_privs(a.privs, a.roleid), bool(a.propagate))
            for a in section.acl
        ]

    # -- tickets ------------------------------------------------------------------------------------
    def _sign(self, text: str) -> str:
        return base64.b64encode(hmac.new(self._key, text.encode(), hashlib.sha256).digest()).decode()

    def login(self, username: str, password: str, realm: str | None = None) -> dict[str, object]:
        """`POST /access/ticket`: a new ticket for a password or a still valid ticket (renewal)."""
        userid = username if "@" in username else f"{username}@{realm or 'pam'}"
        user = self.users.get(userid)
        renewed = self.check_ticket(password) if password.startswith("PVE:") else None
        ok = (
            user is not None
            and user.enabled
            and (
                (renewed is not None and renewed.userid == userid)
                or (user.password is not None and user.password == password)
            )
        )
        if not ok:
            raise PveError(401, "authentication failure")
        stamp = f"{int(time.time()):08X}"
        ticket = f"PVE:{userid}:{stamp}::{self._sign(f'PVE:{userid}:{stamp}')}"
        csrf = f"{stamp}:{self._sign(f'{stamp}:{userid}')[:43]}"
        ident = Identity(userid)
        cap = {
            "vms": self._caps(ident, "/vms", "VM."),
            "storage": self._caps(ident, "/storage", "Datastore."),
            "nodes": self._caps(ident, "/nodes", "Sys."),
            "dc": self._caps(ident, "/", "Sys."),
            "access": {},
            "sdn": {},
            "mapping": {},
        }
        out: dict[str, object] = {
            "username": userid,
            "ticket": ticket,
            "CSRFPreventionToken": csrf,
            "cap": cap,
        }
        if self.has_priv(ident, "/", "Sys.Audit"):
            out["clustername"] = self.cluster_name
        return out

    def _caps(self, ident: Identity, path: str, prefix: str) -> dict[str, int]:
        return {p: 1 for p in ALL_PRIVS if p.startswith(prefix) and self.has_priv(ident, path, p)}

    def check_ticket(self, ticket: str) -> Identity | None:
        """The identity of a valid, unexpired ticket."""
        match = _TICKET.match(ticket)
        if not match:
            return None
        userid, stamp, sig = match.groups()
        if not hmac.compare_digest(sig, self._sign(f"PVE:{userid}:{stamp}")):
            return None
        if time.time() - int(stamp, 16) > TICKET_LIFETIME_S or userid not in self.users:
            return None
        return Identity(userid, via_ticket=True)

    def check_csrf(self, ident: Identity, token: str | None) -> bool:
        if not token or ":" not in token:
            return False
        stamp, sig = token.split(":", 1)
        return hmac.compare_digest(sig, self._sign(f"{stamp}:{ident.userid}")[:43])

    def check_token(self, value: str) -> Identity | None:
        """`user@realm!tokenid=secret` (split at the last '=') → identity, or None."""
        head, sep, secret = value.rpartition("=")
        if not sep or "!" not in head:
            return None
        userid, _, tokenid = head.partition("!")
        user = self.users.get(userid)
        if user is None or not user.enabled or tokenid not in user.tokens:
            return None
        expected, _, expire = user.tokens[tokenid]
        if not hmac.compare_digest(expected, secret) or (expire and time.time() > expire):
            return None
        return Identity(userid, tokenid)

    # -- permissions ----------------------------------------------------------------------------
    def _entries(self, ident: Identity) -> list[tuple[str, tuple[str, ...], bool]]:
        if ident.userid == DEFAULT_USER and ident.tokenid is None:
            return [("/", ALL_PRIVS, True)]
        user_entries = (
            [("/", ALL_PRIVS, True)]
            if ident.userid == DEFAULT_USER
            else [
                (p, pr, prop)
                for p, ug, pr, prop in self.acl
                if ug == ident.userid or ug in self.groups_of.get(ident.userid, ())
            ]
        )
        if ident.tokenid is None:
            return user_entries
        user = self.users.get(ident.userid)
        privsep = bool(user and user.tokens.get(ident.tokenid, ("", False, 0))[1])
        if not privsep:
            return user_entries
        token_entries = [(p, pr, prop) for p, ug, pr, prop in self.acl if ug == ident.task_user]
        allowed = {priv for _, privs, _ in user_entries for priv in privs}
        return [(p, tuple(x for x in pr if x in allowed), prop) for p, pr, prop in token_entries]

    def has_priv(self, ident: Identity, path: str, priv: str) -> bool:
        """True if an ACL entry grants `priv` on `path` (exactly, or on a parent with propagate)."""
        for entry_path, privs, propagate in self._entries(ident):
            if priv not in privs:
                continue
            if entry_path == path or (propagate and (entry_path == "/" or path.startswith(entry_path + "/"))):
                return True
        return False

    def require(self, ident: Identity, path: str, priv: str) -> None:
        """403 like PVE when `priv` is missing on `path`."""
        if not self.has_priv(ident, path, priv):
            raise PveError(403, f"Permission check failed ({path}, {priv})")

    def permissions(self, ident: Identity, path: str | None = None) -> dict[str, dict[str, int]]:
        """`GET /access/permissions`: path → privilege → propagate flag."""
        out: dict[str, dict[str, int]] = {}
        for entry_path, privs, propagate in self._entries(ident):
            if path is not None and not (path == entry_path or path.startswith(entry_path.rstrip("/") + "/")):
                continue
            slot = out.setdefault(entry_path, {})
            for p in privs:
                slot[p] = max(slot.get(p, 0), int(propagate))
        return out
