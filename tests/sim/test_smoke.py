"""Smoke: the bundled demo loads, serves over HTTPS with proxmoxer (token auth), and answers in process."""

from __future__ import annotations

from proxmoxer import ProxmoxAPI

from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from proxlb_sim.testing import running_simulator


def test_demo_in_process_lists_five_nodes() -> None:
    api = InProcessApi(SimCluster.from_scenario(load_scenario("demo"), time_scale=0))
    nodes = api.get("/nodes")
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3", "pve4", "pve5"]


def test_demo_over_https_with_token() -> None:
    with running_simulator("demo") as sim:
        api = ProxmoxAPI(
            sim.host,
            port=sim.port,
            user=sim.user,
            token_name=sim.token_id,
            token_value=sim.token_secret,
            verify_ssl=sim.ca_file,
        )
        assert api.version.get()["version"] == "9.2.11"
        assert len(api.cluster.resources.get(type="vm")) == 29
