"""Point a ProxLB config at a running proxlb-sim, as an admin would edit the packaged one.

usage: sim-config.py SIM_JSON CONFIG_IN CONFIG_OUT [CA_FILE_AS_SEEN_BY_PROXLB]

SIM_JSON is the line `proxlb-sim serve` prints. The API endpoint, token and CA are the
simulator's and the service runs one cycle; every other key stays as in CONFIG_IN. Used by
`make deb-test` (the installed /etc/proxlb/proxlb.yaml) and `make container-test`.
"""

import json
import sys

import yaml


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        sim = json.loads(fh.readline())
    with open(argv[2], encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    user, rest = sim["token"].split("!", 1)
    token_id, secret = rest.split("=", 1)
    api = doc["proxmox_api"]
    api.pop("token_secret_file", None)
    api.update(
        hosts=[f"{sim['host']}:{sim['port']}"],
        user=user,
        token_id=token_id,
        token_secret=secret,
        ssl_verification=True,
        ca_file=argv[4] if len(argv) == 5 else sim["ca_file"],
    )
    doc["service"]["daemon"] = False
    with open(argv[3], "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
