"""Method names, the platform's default method and a factory."""

from __future__ import annotations

from typing import Any

from ._base import Aggregator
from .dawid_skene import DawidSkene, OneCoinDawidSkene
from .glad import GLAD
from .majority import MajorityVote, WeightedMajorityVote

__all__ = ["DEFAULT_METHOD", "METHODS", "make_estimator"]

#: Estimator class by method name.
METHODS: dict[str, type[Aggregator]] = {
    "mv": MajorityVote,
    "wmv": WeightedMajorityVote,
    "ds": DawidSkene,
    "ods": OneCoinDawidSkene,
    "glad": GLAD,
}

#: The method the platform uses: Dawid-Skene with its default settings (empirical-Bayes
#: Dirichlet prior on the confusion rows; full or one-coin confusion chosen by 5-fold held-out
#: answer likelihood). See docs/aggregation.md for how it was chosen.
DEFAULT_METHOD = "ds"


def make_estimator(method: str = DEFAULT_METHOD, **params: Any) -> Aggregator:
    """A new, unfitted estimator for a method name ("mv", "wmv", "ds", "ods", "glad").

    ``params`` go to the estimator's constructor, e.g. ``make_estimator("ds", prior=0)``.
    Raises ``ValueError`` for an unknown name.
    """
    try:
        cls = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}") from None
    return cls(**params)
