"""Hypothesis profiles, chosen with HYPOTHESIS_PROFILE before any test module builds its settings.

- `gate` (default; `make test` and CI): derandomized, so the property tests try the same examples on
  every run and the gate cannot flip on a lucky or unlucky draw.
- `explore` (`make fuzz`): random examples and more of them, to look for new counterexamples. A find
  there becomes a regression test (an explicit example or a unit test), then is fixed.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("gate", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=600, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))
