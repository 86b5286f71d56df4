"""Shared pytest configuration: a derandomised hypothesis profile.

``SNTK_HYPOTHESIS_PROFILE=thorough`` raises the default number of examples;
tests that set ``max_examples`` themselves (to bound their run time) keep
their own count.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("SNTK_HYPOTHESIS_PROFILE", "ci"))
