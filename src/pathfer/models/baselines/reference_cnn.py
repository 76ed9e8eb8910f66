"""The plain BatchNorm CNN that every study measures itself against (issue 10's reference).

4 x [conv 3x3 (no bias) + BatchNorm + ReLU + max-pool 2] with 32-32-64-64 channels, then
flatten -> FC 128 -> ReLU -> dropout 0.5 -> linear. A fixed, well-known recipe (Adam 1e-3,
about 30 epochs, flips and small shifts), deliberately independent of PathNet's settings:
it is the yardstick, so it does not move when PathNet's modules do.

``(B, C, S, S)`` in [0, 1] -> logits; the input is scaled to [-1, 1] inside, as in
:class:`pathfer.models.nn.PlainCNN`. ``head`` is the last linear layer only, so a
fine-tuned copy shares everything but ``head.*`` with its source.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pathfer.models.nn import INPUT_SCALE, INPUT_SHIFT


class ReferenceCNN(nn.Module):
    #: trains in channels-last layout (``pathfer.models.baselines.training``)
    channels_last = True

    def __init__(
        self,
        n_classes: int,
        *,
        channels: Sequence[int] = (32, 32, 64, 64),
        hidden: int = 128,
        dropout: float = 0.5,
        input_size: int = 48,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, size = in_channels, input_size
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            c_in, size = c, size // 2
        if size < 1:
            raise ValueError(f"input_size {input_size} is too small for {len(channels)} poolings")
        self.layers = nn.Sequential(*layers)
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * size * size, hidden), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)
        self.n_classes = n_classes
        #: constructor arguments that rebuild this architecture (model bundles)
        self.arch_kwargs: dict = {
            "n_classes": int(n_classes),
            "channels": [int(c) for c in channels],
            "hidden": int(hidden),
            "dropout": float(dropout),
            "input_size": int(input_size),
            "in_channels": int(in_channels),
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.layers((x - INPUT_SHIFT) / INPUT_SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
