"""The classifier half of a recogniser: a model on a device, its labels and crop settings,
and face crops in -> class probabilities out (no detection)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pathfer.data.faces import CropSettings, resize_face
from pathfer.models.nn import predict_proba
from pathfer.use.predict import sources
from pathfer.use.predict.device import model_device, resolve_device


class FaceClassifier:
    """A model with the labels and crop settings it was trained with, on ``device``.

    ``threads``: torch intra-op threads while classifying on the CPU (default 1; ``None``
    keeps torch's global setting).
    """

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str],
        crop: CropSettings | None = None,
        *,
        threads: int | None = 1,
        device: str | torch.device | None = "cpu",
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, not {threads}")
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self._infer = _inference_copy(self.model)
        self.labels = list(labels)
        self.crop = crop or CropSettings()
        self.threads = threads

    # pickling (worker processes): the inference copy is rebuilt
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_infer")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._infer = _inference_copy(self.model)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, C)`` (float32) for prepared uint8 face crops ``(N, S, S)``."""
        crops = np.ascontiguousarray(crops, dtype=np.uint8)
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        previous = torch.get_num_threads()
        change = self.threads is not None and self.threads != previous
        if change:
            torch.set_num_threads(self.threads)
        try:  # one model call: the caller sized the batch
            return predict_proba(self._infer, crops, batch_size=len(crops))
        finally:
            if change:
                torch.set_num_threads(previous)

    def prepare_face(self, image: Any, color: str | None = None) -> np.ndarray:
        """An image that is a face already, as this model's input: grey, resized to the crop
        size (no margin), histogram-equalised if the bundle was trained so."""
        return resize_face(sources.to_frame(image, color), self.crop)

    def classify_faces(self, crops: Any, color: str | None = None) -> np.ndarray:
        """Probabilities ``(N, C)`` for images that are faces already (any size, BGR, RGB,
        grey or PIL); each gets this bundle's resize and equalisation, nothing is detected.

        ``crops``: one image, a stack ``(N, H, W[, 3])``, or a list of images.
        """
        if isinstance(crops, np.ndarray):
            stack, one = sources.array_frames(crops, color)
            images = stack if stack is not None else [one]
        elif sources.is_pil_image(crops):
            images = [crops]
        elif sources.is_tensor(crops):
            t = sources.from_tensor(crops)
            images = t if isinstance(t, list) else [t]
            color = color or "rgb"
        else:
            images = list(crops)
        if not images:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.classify(np.stack([self.prepare_face(im, color) for im in images]))


def _inference_copy(model: nn.Module) -> nn.Module:
    """The model prepared for fast inference (BN folded if the model offers it, and
    channels-last weights, ~2-3x faster for small conv nets on CPU) on the model's device;
    ``model`` is not modified."""
    device = model_device(model)
    fuse = getattr(model, "fused_for_inference", None)
    fast = fuse() if callable(fuse) else copy.deepcopy(model)
    return fast.eval().to(device).to(memory_format=torch.channels_last)
