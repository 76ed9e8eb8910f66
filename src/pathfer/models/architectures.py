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
# a materialised PathNet path over the mini-Xception's stages (method pathnet_fer)
ARCHITECTURES.register(
    "mini_xception_path", "pathfer.models.baselines.mini_xception:MiniXceptionPath"
)


def architecture_name(model: nn.Module) -> str:
    """The name under which ``model``'s class is registered (a bundle records it)."""
    for name in ARCHITECTURES.list():
        if ARCHITECTURES.get(name) is type(model):
            return name
    raise ValueError(
        f"{type(model).__name__} is not a registered architecture; register it in "
        "pathfer.models.architectures.ARCHITECTURES"
    )
