"""Reading the config file (and secret files) and parsing YAML, with limits. Edge module (reads files).

Whatever sits at the configured path, reading ends quickly with text or one clear problem line:
- only regular files are read: a directory, FIFO, socket or device (`-c /dev/zero`) is refused
  without reading a byte (opened non-blocking, so a FIFO with no writer cannot hang);
- at most `MAX_CONFIG_BYTES` (1 MiB) are read; a larger file is refused;
- the YAML parser caps nesting depth (`MAX_DEPTH`), the number of aliases (`MAX_ALIASES`) and the
  number of values the document expands to (`MAX_NODES`, the "billion laughs" alias bomb), and
  numbers of more than `MAX_NUMBER_CHARS` characters; NUL and other control bytes are reported with
  their line.

Invariant: no message quotes the file's text (it may hold secrets); problems carry line/column.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.error import MarkedYAMLError
from yaml.nodes import MappingNode, Node, SequenceNode

from proxlb.config.render import render_yaml_error
from proxlb.errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20
MAX_SECRET_BYTES = 64 << 10
MAX_DEPTH = 50
MAX_ALIASES = 1000
MAX_NODES = 100_000
MAX_NUMBER_CHARS = 100


class _RefusedError(MarkedYAMLError):
    """A document past one of the limits (depth, aliases, expansion, number length, dates)."""


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit >> 10} KiB"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_limited(path: Path, limit: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason): a regular UTF-8 file of at most `limit` bytes, never blocking."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, "does not exist"
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return None, exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a usable path"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, f"is {_kind(info.st_mode)}, not a regular file"
        if info.st_size > limit:
            return None, f"is {info.st_size} bytes; the limit is {_size(limit)}"
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, f"is larger than the limit of {_size(limit)}"
    except OSError as exc:
        return None, exc.strerror or type(exc).__name__
    finally:
        os.close(fd)
    data = b"".join(chunks)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line})"


def read_config_text(path: Path) -> str:
    """The config file's text; raises ConfigError with one problem line otherwise."""
    text, reason = read_limited(path, MAX_CONFIG_BYTES)
    if text is None:
        if reason == "does not exist":
            raise ConfigError(f"The config file {path} does not exist.", (f"{path}: file does not exist",))
        reason = f"it {reason}" if reason and reason.startswith("is ") else reason
        problem = f"{path}: cannot read config file: {reason}"
        raise ConfigError(problem, (problem,))
    return text


class _Loader(yaml.SafeLoader):
    """SafeLoader with limits (see the module docstring) that records duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _RefusedError(None, None, f"more than {MAX_ALIASES} aliases (*name)", mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _RefusedError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> int:
        text = str(self.construct_scalar(node))
        if len(text) > MAX_NUMBER_CHARS:
            reason = f"a number of {len(text)} characters is too long"
            raise _RefusedError(None, None, reason, node.start_mark)
        return int(super().construct_yaml_int(node))

    def construct_yaml_timestamp(self, node: Any) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise _RefusedError(None, None, "not a valid date or time", node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` (upstream's PyYAML accepts it); explicit keys override it
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                line = key_node.start_mark.line + 1
                self.duplicates.append(f"duplicate key '{key}' at line {line}; the last occurrence wins")
        return super().construct_mapping(node, deep=deep)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _check_expansion(root: Node) -> None:
    """Raise _RefusedError when aliases make the document expand past MAX_NODES values or loop."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:  # depth is bounded by MAX_DEPTH, so recursion is safe
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _RefusedError(None, None, "an alias refers to its own anchor (a loop)", node.start_mark)
        active.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        active.discard(key)
        if total > MAX_NODES:
            raise _RefusedError(
                None,
                None,
                f"the document expands to more than {MAX_NODES} values (aliases repeating aliases?)",
                node.start_mark,
            )
        sizes[key] = total
        return total

    size(root)


def _reader_problem(path: Path, text: str, exc: yaml.reader.ReaderError) -> str:
    line = text.count("\n", 0, exc.position) + 1
    char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    return f"{path}: control character #x{ord(char):04x} at line {line} is not allowed in YAML"


def parse_yaml(text: str, path: Path) -> tuple[Any, tuple[str, ...]]:
    """(document, duplicate-key warnings); raises ConfigError with line/column on any bad YAML."""
    problem: str | None = None
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None, ()
        _check_expansion(node)
        data = loader.construct_document(node)
    except yaml.reader.ReaderError as exc:
        problem = _reader_problem(path, text, exc)
    except _RefusedError as exc:
        problem = render_yaml_error(str(path), exc).replace("YAML syntax error", "YAML refused", 1)
    except yaml.YAMLError as exc:
        problem = render_yaml_error(str(path), exc)
    except (ValueError, OverflowError, RecursionError, TypeError) as exc:  # PyYAML constructor edges
        problem = f"{path}: a YAML value could not be read ({type(exc).__name__})"
    finally:
        if loader is not None:
            loader.dispose()
    if problem is not None:
        raise ConfigError(problem, (problem,))
    assert loader is not None
    return data, tuple(f"{path}: {d}" for d in loader.duplicates)
