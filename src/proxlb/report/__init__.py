"""Presentation of snapshots, plans and run results: upstream-compatible JSON and terminal tables.

Pure functions from frozen values to dicts/strings; printing happens in `proxlb.cli`.
"""
