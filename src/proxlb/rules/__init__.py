"""Rules: turn tags, pools, PVE HA rules/groups, guest properties and config into a ConstraintSet.

Pure: no I/O, no clock, no logging; every oddity becomes a sentence in `ConstraintSet.warnings`.
"""
