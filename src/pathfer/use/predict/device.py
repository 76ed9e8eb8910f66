"""Which torch device runs a model: ``"cpu"``, ``"cuda"`` (``"cuda:1"``) or ``"mps"``."""

from __future__ import annotations

import torch

DEVICES = ("cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """A usable torch device, or a ValueError that says what this machine has."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}") from None
    if dev.type not in DEVICES:
        raise ValueError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r}: this torch build or machine has no CUDA GPU "
                "(torch.cuda.is_available() is False); use device='cpu'"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {device!r}: Apple's MPS backend is not available here; use device='cpu'"
        )
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); CPU for a model with neither."""
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")
