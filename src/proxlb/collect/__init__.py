"""The read side: turn Proxmox VE API answers into a frozen `ClusterSnapshot`.

Parsing (raw JSON → domain values) is pure and lives in its own modules; only `snapshot.py`
and `enrich.py` talk to an `ApiReader`.
"""
