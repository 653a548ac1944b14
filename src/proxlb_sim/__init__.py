"""The simulated Proxmox VE cluster (`proxlb-sim`): a stateful PVE REST API over HTTPS or in process.

Entry points: `scenario.load_scenario`, `cluster.SimCluster.from_scenario`, `inprocess.InProcessApi`,
`testing.running_simulator`, `cli.main`. See docs/simulator.md and docs/scenario-format.md.
"""
