"""Headless Chromium for report tests: find (or best-effort install) it, render a page, read a PNG.

Chromium is Debian's `chromium` package. `make test` tries to install it (`make test-tools`); a test
that needs it is skipped with a clear message where it is missing. Console messages are read from
Chromium's own log (`--enable-logging=stderr --v=0` prints each as `…:CONSOLE…`).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    """Path of a Chromium binary, or skip the test saying how to get one."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; `make test-tools`)")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: tuple[str, ...]
    screenshot: Path


def render(page: Path, out_dir: Path, width: int = 1280, height: int = 2200) -> Rendered:
    """Load `page` (a local file) headless: its DOM after load, console messages, and a screenshot."""
    binary = chromium()
    base = [
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-extensions", "--disable-background-networking", f"--user-data-dir={out_dir / 'profile'}",
        "--enable-logging=stderr", "--v=0", f"--window-size={width},{height}",
    ]  # fmt: skip
    url = page.resolve().as_uri()
    shot = out_dir / "screenshot.png"
    console: list[str] = []
    runs = ([f"--screenshot={shot}", url], ["--dump-dom", url])
    outputs = []
    for extra in runs:
        proc = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            pytest.fail(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
        console += [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
        outputs.append(proc.stdout)
    return Rendered(dom=outputs[1], console=tuple(console), screenshot=shot)


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG — enough to judge a screenshot."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"unsupported PNG (depth {depth}, color type {color})"
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows = zlib.decompress(idat), width * channels, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows
