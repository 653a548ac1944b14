"""Exit 0 when a running proxlb-sim was read (GET requests) but never written to.

usage: sim-writes.py SIM_JSON [LABEL]

Asks the simulator's admin API (/_sim/requests) for its request log; the login
(POST /access/ticket) does not count as a write. Used by `make deb-test` and `make container-test`
to prove a dry run touched nothing.
"""

import json
import sys

import requests


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        sim = json.loads(fh.readline())
    label = argv[2] if len(argv) > 2 else "simulator"
    answer = requests.get(f"{sim['url']}/_sim/requests", verify=sim["ca_file"], timeout=10).json()
    log = answer["data"]
    gets = [e for e in log if e["method"] == "GET"]
    writes = [e for e in log if e["method"] != "GET" and e["path"] != "/access/ticket"]
    print(f"{label}: simulator saw {len(gets)} GET and {len(writes)} write requests")
    for entry in writes:
        print(f"{label}: write: {entry['method']} {entry['path']}", file=sys.stderr)
    return 1 if writes or not gets else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
