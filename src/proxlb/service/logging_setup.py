"""Logging for the service: journald under systemd, plain or JSON lines on stderr otherwise (stdout
carries only tables, results and JSON documents, so `2>/dev/null` leaves just those).

Invariants: calling `configure_logging` again (SIGHUP) replaces our handler instead of stacking a
second one; every record passes `RedactFilter`, which masks the configured secrets as a last line
of defence and escapes control characters (a guest name cannot forge a log line); no timestamps on
lines that journald stamps itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import IO, Any

from proxlb.report.escape import printable

_MARK = "_proxlb_handler"
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class RedactFilter(logging.Filter):
    """Replace every known secret in a record's final message by ********, and escape control
    characters (`report.escape.printable`)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = printable(message)  # a name from the API cannot forge a line or drive a terminal
        for secret in self.secrets:
            redacted = redacted.replace(secret, "********")
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if any(s in text for s in self.secrets):
                record.exc_info = None
                record.exc_text = None
                redacted += " (traceback withheld: it contained a secret)"
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class JournalPrefixFormatter(logging.Formatter):
    """Plain line with the sd-daemon `<N>` priority prefix journald understands; no timestamp."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>"
        return prefix + super().format(record).replace("\n", "\n" + prefix)


def choose_format(log_format: str, env: Mapping[str, str], stream: IO[str] | None = None) -> str:
    """'journal', 'plain' or 'json'. `auto` means journal when systemd connected our output.

    systemd sets JOURNAL_STREAM=<device>:<inode> for a service whose output goes to the journal;
    when `stream` is a real file it must be that very stream (a child with redirected output
    inherits the variable but not the connection).
    """
    wanted = (log_format or "auto").lower()
    if wanted in ("plain", "json"):
        return wanted
    marker = env.get("JOURNAL_STREAM", "")
    if not marker:
        return "plain"
    try:
        info = os.fstat(stream.fileno()) if stream is not None else None
    except (AttributeError, OSError, ValueError):
        info = None
    if info is not None and marker != f"{info.st_dev}:{info.st_ino}":
        return "plain"
    return "journal"


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER="proxlb")
    return handler


def configure_logging(
    level: str = "INFO",
    log_format: str = "auto",
    secrets: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Install (or replace) ProxLB's handler on the root logger and return it."""
    environ = os.environ if env is None else env
    out = stream or sys.stderr
    kind = choose_format(
        str(getattr(log_format, "value", log_format)), environ, out if stream is None else None
    )
    handler: logging.Handler | None = _journal_handler() if kind == "journal" else None
    if handler is None:
        handler = logging.StreamHandler(out)
        if kind == "json":
            handler.setFormatter(JsonFormatter())
        elif kind == "journal":
            handler.setFormatter(JournalPrefixFormatter("%(levelname)s %(name)s: %(message)s"))
        else:
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactFilter(secrets))
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, str(getattr(level, "value", level)).upper(), logging.INFO))
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # proxmoxer logs whole response bodies at DEBUG; proxlb.api.request logs one line per request instead
    logging.getLogger("proxmoxer").setLevel(logging.WARNING)
    return handler
