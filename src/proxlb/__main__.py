"""Allows `python -m proxlb`, like upstream."""

from proxlb.cli import main

main()
