"""The methods an experiment compares, as a registry of plain functions.

Every method gets the same :class:`FoldData` (same fit / validation / test frames, same
seed) and returns a :class:`MethodOutput` with test-frame probabilities. Hyper-parameters
are chosen on the *validation subjects* carved out of the fold's training part, never on
the test fold. Source-trained models (for the transfer methods) are trained once per seed
by :func:`train_sources` and loaded by every fold.

Adding a method is adding a function decorated with :func:`register_method` in one of
this package's modules (``pathnet``, ``cnn``, ``fer``,
``pathnet_fer``); ``METHODS.list()`` names them all.
A method declares the face crop it wants (``crop=``) and, when it trains with
:func:`tuned_fit`, its recipe (``recipe=``); the experiment resolves both per method.
"""

# importing a module registers its methods; their order is the order default configs and
# reports list them in
# isort: off
from pathfer.study.experiments.methods import pathnet  # noqa: F401
from pathfer.study.experiments.methods import cnn  # noqa: F401
from pathfer.study.experiments.methods import fer  # noqa: F401
from pathfer.study.experiments.methods import pathnet_fer  # noqa: F401

# isort: on
from pathfer.study.experiments.methods.base import (
    CNN_RECIPE,
    FER2013_CROP,
    METHODS,
    FoldData,
    Method,
    MethodOutput,
    Part,
    Recipe,
    TaskData,
    by_cost,
    needs_source,
    register_method,
    source_info,
    trains,
    tuned_fit,
)
from pathfer.study.experiments.methods.fer import LabelSubset, unwrap
from pathfer.study.experiments.methods.sources import train_sources

__all__ = [
    "CNN_RECIPE",
    "FER2013_CROP",
    "METHODS",
    "FoldData",
    "LabelSubset",
    "Method",
    "MethodOutput",
    "Part",
    "Recipe",
    "TaskData",
    "by_cost",
    "needs_source",
    "register_method",
    "source_info",
    "train_sources",
    "trains",
    "tuned_fit",
    "unwrap",
]
