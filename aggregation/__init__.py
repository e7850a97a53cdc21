"""Aggregation engine: consensus labels and worker reliability from crowd answers.

Pure numpy/scipy (no Django import outside the glue modules ``services``, ``training``, ``jobs``
and ``apps``): the platform, the simulator and the command line (``python -m aggregation answers.csv``) all use it.

>>> from aggregation import encode, make_estimator
>>> answers = encode(tasks, workers, labels)            # doctest: +SKIP
>>> model = make_estimator(DEFAULT_METHOD).fit(answers)  # doctest: +SKIP
>>> answers.label_ids[model.labels_]                     # doctest: +SKIP
"""

from .dawid_skene import DawidSkene, OneCoinDawidSkene, posterior
from .encoding import Answers, encode
from .glad import GLAD
from .majority import MajorityVote, WeightedMajorityVote
from .methods import DEFAULT_METHOD, METHODS, make_estimator

__all__ = [
    "DEFAULT_METHOD",
    "GLAD",
    "METHODS",
    "Answers",
    "DawidSkene",
    "MajorityVote",
    "OneCoinDawidSkene",
    "WeightedMajorityVote",
    "encode",
    "make_estimator",
    "posterior",
]
