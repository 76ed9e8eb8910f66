"""Model architectures by name, for bundles: a bundle records the name and the keyword
arguments, and loading rebuilds the module from here.

Entries are lazy ``"module:attribute"`` strings, so looking one up imports only that model.
Register your own with ``ARCHITECTURES.register("my_cnn", MyCNN)`` or as a decorator.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from pathfer.runtime.registry import Registry

Factory = Callable[..., nn.Module]

ARCHITECTURES: Registry[Factory] = Registry("architecture")
ARCHITECTURES.register("mini_xception", "pathfer.models.baselines.mini_xception:MiniXception")
# the plain CNN baselines and materialised PathNet paths
ARCHITECTURES.register("plain_cnn", "pathfer.models.nn:PlainCNN")
# the plain BatchNorm CNN of the studies' reference methods
ARCHITECTURES.register("reference_cnn", "pathfer.models.baselines.reference_cnn:ReferenceCNN")
