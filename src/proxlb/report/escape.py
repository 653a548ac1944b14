"""Text from the API made safe to print: control characters become visible escapes. Pure.

A guest name is whatever PVE stored; one holding a newline could forge a log line, one holding ESC
could drive the terminal. `printable` turns every C0/C1 control character (tab excepted) and DEL
into a Python-style escape (`\\n`, `\\x1b`), so what is printed is what was stored, one line long.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """`text` with control characters escaped (unchanged when it has none)."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)
