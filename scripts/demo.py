"""`make demo`: start the simulator with the demo scenario and run ProxLB against it."""

raise SystemExit("demo not wired yet")
