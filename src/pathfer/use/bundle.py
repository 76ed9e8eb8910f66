# Over 400 lines: saving and loading share their checks (shapes, outputs, finite weights).
"""Model bundles: one ``.safetensors`` file holding weights and pathfer metadata.

Format (version 2, :data:`pathfer.runtime.formats.CURRENT`): a standard safetensors file.
Its tensors are the model's ``state_dict``; its header metadata (a ``str -> str`` map) holds

- ``"format": "pt"`` (the safetensors convention),
- ``"pathfer.use.bundle": "2"`` (marks a pathfer bundle; the format version),
- ``"pathfer.meta"``: a JSON object with ``labels`` (canonical emotion names in class
  order), ``crop`` (:meth:`~pathfer.data.faces.CropSettings.as_dict`: size, margin,
  equalize, detector, align), ``architecture`` (registry name), ``factory``
  (``"module:callable"`` import hint), ``arch_kwargs`` (constructor kwargs), ``output``
  (always ``"logits"``), ``pathnet_path`` (or null), ``pathfer_version``, ``created``,
  ``provenance`` and ``format_version``.

Version-1 bundles (pathfer 0.1) are read through :func:`upgrade_bundle_v1`; a bundle of a
newer version is refused with a :class:`BundleFormatError`.

Loading never unpickles: tensors come from safetensors, settings from JSON, and the
module is rebuilt by calling a *registered* architecture factory with ``arch_kwargs``.
An optional human-readable copy of the metadata may sit next to the bundle as
``<name>.json`` (the shipped default model has one); it is informational only.

Architectures register themselves with :func:`register_architecture`, either with a
callable or lazily with a ``"module:callable"`` string. A bundle whose architecture is
not registered in the loading process is resolved through its ``factory`` hint, but only
when that module, and the class it names, are part of pathfer or listed in
``trusted_modules`` (importing and calling arbitrary code named by a file would defeat the
point of not unpickling). Saving and loading both check that the model scores one class
per label on a crop of ``crop.size``, that every weight is finite (a diverged model's NaN
weights would make every probability NaN), and a weights mismatch names the tensors. Before
a model is built, its parameter shapes are computed on PyTorch's ``meta`` device (no
memory) and compared with the file's, so a bundle whose ``arch_kwargs`` ask for huge
layers is refused at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as save_bytes
from torch import nn

import pathfer
from pathfer.data.emotions import canonical
from pathfer.data.faces import CropSettings
from pathfer.models.architectures import Factory
from pathfer.models.nn import EVAL_BATCH, predict_proba
from pathfer.runtime import formats
from pathfer.runtime.files import atomic_write_bytes
from pathfer.use.factory import (
    TRUSTED_MODULE_PREFIXES,
    FactoryError,
    available_architectures,
    factory_hint,
    register_architecture,
    registered_factory,
    resolve_factory,
)

__all__ = [
    "TRUSTED_MODULE_PREFIXES",
    "Bundle",
    "BundleError",
    "BundleFormatError",
    "available_architectures",
    "default_bundle_path",
    "get_architecture",
    "load_bundle",
    "read_meta",
    "register_architecture",
    "save_bundle",
    "upgrade_bundle_v1",
]

META_KEY = "pathfer.meta"
MARK_KEY = "pathfer.use.bundle"
DEFAULT_BUNDLE_NAME = "fer2013_mini_xception.safetensors"


class BundleError(RuntimeError):
    """A bundle that cannot be saved or loaded; the message names the file."""


class BundleFormatError(BundleError, formats.FormatError):
    """A bundle of a format version this pathfer cannot read (a newer one)."""


def get_architecture(
    name: str, hint: str | None = None, trusted_modules: Sequence[str] = ()
) -> Factory:
    """The factory registered as ``name``, else its trusted ``hint`` (:mod:`.factory`)."""
    try:
        return resolve_factory(name, hint, trusted_modules)
    except FactoryError as exc:
        raise BundleError(str(exc)) from None


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode, its labels, crop settings and metadata."""

    model: nn.Module
    labels: list[str]
    crop: CropSettings
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def architecture(self) -> str:
        return str(self.meta.get("architecture", ""))

    def predict_proba(self, crops: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
        """Class probabilities ``(N, C)`` (float32) for uint8 crops ``(N, S, S)``, computed
        on the device the model lives on; no crops give ``(0, C)``."""
        crops = np.asarray(crops)
        if crops.ndim == 2:
            crops = crops[None]
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return predict_proba(self.model, np.array(crops), batch_size)  # a writable copy


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray, tuple, set)):
        return list(o.tolist() if isinstance(o, np.ndarray) else o)
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def save_bundle(
    model: nn.Module,
    path: str | Path,
    *,
    architecture: str,
    arch_kwargs: dict[str, Any] | None = None,
    labels: Sequence[str],
    crop: CropSettings | None = None,
    provenance: dict[str, Any] | None = None,
    pathnet_path: Any = None,
    trusted_modules: Sequence[str] = (),
    write_card: bool = False,
) -> Path:
    """Write ``model`` and its metadata to one ``.safetensors`` bundle (atomically).

    ``labels`` are canonical emotion names in class order (aliases like ``"happy"`` are
    canonicalised). If ``architecture`` is registered, it is rebuilt from ``arch_kwargs``
    here and its parameter names/shapes are checked against ``model`` so that a bundle
    that cannot be loaded is never written. ``write_card`` also writes ``<path>.json``,
    a readable copy of the metadata.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise BundleError(f"{path}: a bundle file must end in .safetensors")
    arch_kwargs = _jsonable(dict(arch_kwargs or {}))
    labels = [canonical(str(x)) for x in labels]
    if len(set(labels)) != len(labels):
        raise BundleError(f"{path}: duplicate labels {labels}")
    crop = crop or CropSettings()
    state = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
    check_finite(state, path, "not saved")

    try:
        factory = registered_factory(architecture)
    except FactoryError as exc:
        raise BundleError(f"{path}: {exc}") from None
    hint = factory_hint(factory) if factory else None
    if factory is None:
        hint = factory_hint(type(model))
    else:
        try:
            ref = get_architecture(architecture, hint, trusted_modules)(**arch_kwargs)
        except BundleError as exc:
            raise BundleError(f"{path}: {exc}") from None
        except Exception as exc:
            raise BundleError(
                f"{path}: cannot build architecture {architecture!r} from arch_kwargs "
                f"{arch_kwargs} ({exc})"
            ) from exc
        mismatch = _state_mismatch(ref, state)
        if mismatch:
            raise BundleError(
                f"{path}: model does not match architecture {architecture!r} with arch_kwargs "
                f"{arch_kwargs} ({mismatch}); pass the kwargs that rebuild it"
            )
        hint = hint or factory_hint(type(ref))
    _check_outputs(model, crop, labels, path)

    meta = {
        "pathfer_version": pathfer.__version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "architecture": architecture,
        "factory": hint,
        "arch_kwargs": arch_kwargs,
        "labels": labels,
        "crop": crop.as_dict(),
        "input": "(B, 1, S, S) float32 in [0, 1], S = crop.size",
        "output": "logits",
        "pathnet_path": _jsonable(pathnet_path),
        "provenance": _jsonable(provenance or {}),
    }
    meta = formats.stamp(meta)
    header = {"format": "pt", MARK_KEY: str(formats.CURRENT), META_KEY: json.dumps(meta)}
    # bytes, not safetensors' save_file: that one creates files with mode 0600
    atomic_write_bytes(path, save_bytes(state, metadata=header))
    if write_card:
        card = path.with_suffix(".json")
        card.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path


def _output_dim(model: nn.Module, crop: CropSettings) -> int:
    """Classes the model scores on one bundle input, ``(1, 1, S, S)`` with S = crop.size."""
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        x = torch.zeros(1, 1, crop.size, crop.size, device=p.device if p is not None else "cpu")
        with torch.inference_mode():
            y = model(x)
    finally:
        model.train(was_training)
    if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != 1:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"it returns {shape}, not logits of shape (1, classes)")
    return int(y.shape[1])


def _check_outputs(model: nn.Module, crop: CropSettings, labels: Sequence[str], path: Path) -> None:
    """One label per output: else predict would index past the labels and an exported
    ONNX would name the wrong classes."""
    try:
        out_dim = _output_dim(model, crop)
    except Exception as exc:
        raise BundleError(
            f"{path}: the model cannot score a (1, 1, {crop.size}, {crop.size}) crop "
            f"({short_error(exc)}); crop.size must be the input size it was trained on"
        ) from None
    if out_dim != len(labels):
        raise BundleError(
            f"{path}: the model outputs {out_dim} classes but {len(labels)} labels are given "
            f"({', '.join(labels)}); give one label per output, in class order"
        )


def check_finite(state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Refuse weights holding NaN or infinity, naming the file and the first such tensor."""
    for name, t in state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise BundleError(
                f"{path}: tensor {name!r} holds {bad} non-finite value(s) (NaN or infinity): "
                f"the model diverged in training; {what} (train again, e.g. with a lower "
                "learning rate)"
            )


def _state_mismatch(model: nn.Module, state: dict[str, Any]) -> str | None:
    """Which tensors differ between the file and the rebuilt model (None: they fit).

    ``state`` maps names to tensors or to shapes."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v if isinstance(v, (tuple, list)) else v.shape) for k, v in state.items()}
    parts = []
    missing = [k for k in want if k not in have]
    extra = [k for k in have if k not in want]
    shapes = [
        f"{k} {have[k]} in the file vs {want[k]}" for k in want if k in have and have[k] != want[k]
    ]
    for what, names in (("missing", missing), ("unexpected", extra), ("other shape", shapes)):
        if names:
            more = f" and {len(names) - 4} more" if len(names) > 4 else ""
            parts.append(f"{what}: {', '.join(names[:4])}{more}")
    return "; ".join(parts) or None


def safetensors_header(
    path: str | Path, what: str = "bundle", error: type[Exception] = BundleError
) -> dict[str, str]:
    """The header metadata of the safetensors file ``path`` (a pathfer ``what``), with
    one-line ``error``s for a missing, foldered or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: {what} not found; check the path")
    if path.is_dir():
        raise error(f"{path}: is a folder; a pathfer {what} is one .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # SafetensorError, OSError, header parse errors
        raise error(
            f"{path}: not a readable safetensors file ({short_error(exc)}); the file is "
            f"corrupt, truncated or not a pathfer {what}"
        ) from None


def safetensors_tensors(
    path: str | Path, error: type[Exception] = BundleError
) -> dict[str, torch.Tensor]:
    """Every tensor of the safetensors file ``path`` (its header already read), with a
    one-line ``error`` for weights that cannot be read."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    except Exception as exc:
        raise error(
            f"{path}: weights cannot be read ({short_error(exc)}); the file is corrupt or truncated"
        ) from None


def read_meta(path: str | Path) -> dict[str, Any]:
    """The pathfer metadata of a bundle without building the model."""
    path = Path(path)
    header = safetensors_header(path)
    if META_KEY not in header:
        raise BundleError(
            f"{path}: a safetensors file without pathfer metadata (not a pathfer bundle); "
            "save models with pathfer.use.bundle.save_bundle"
        )
    try:
        meta = json.loads(header[META_KEY])
        for key in ("labels", "crop", "architecture"):
            meta[key]  # noqa: B018 - presence check
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: pathfer metadata is damaged ({short_error(exc)})") from None
    try:
        version = formats.check_not_newer(meta, path, "bundle")
    except formats.FormatError as exc:
        message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
        raise BundleFormatError(message) from None
    return upgrade_bundle_v1(meta) if version == 1 else meta


#: modules that held an architecture when version-1 bundles recorded it as a factory hint
MOVED_MODULES = {
    "pathfer.baselines.mini_xception": "pathfer.models.baselines.mini_xception",
    "pathfer.baselines.cnn": "pathfer.models.nn",
    "pathfer.models.baselines.cnn": "pathfer.models.nn",
}
#: constructor arguments version-1 bundles left out when they held these values
#: (``PlainCNN.arch_kwargs`` writes them only when they differ)
V1_OMITTED_KWARGS = {"plain_cnn": {"head_hidden": 0, "relu": "layer"}}


def upgrade_bundle_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """A version-1 bundle's metadata as this version writes it: the factory hint names
    today's module, and the constructor arguments it left out are written out (the same
    model is built); ``format_version`` becomes the current one."""
    meta = dict(meta)
    hint = meta.get("factory")
    if isinstance(hint, str):
        module, sep, name = hint.partition(":")
        meta["factory"] = MOVED_MODULES.get(module, module) + sep + name
    omitted = V1_OMITTED_KWARGS.get(str(meta.get("architecture")), {})
    if omitted and isinstance(meta.get("arch_kwargs", {}), dict):
        meta["arch_kwargs"] = {**omitted, **meta.get("arch_kwargs", {})}
    return formats.stamp(meta)


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message (its type when it has none), at most 200
    characters: enough to name what failed in a one-line error."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return msg[:200]


def load_bundle(
    path: str | Path | None = None,
    *,
    device: str | torch.device = "cpu",
    trusted_modules: Sequence[str] = (),
) -> Bundle:
    """Load a bundle (``None``: the shipped FER2013 mini-Xception) with its model in eval mode."""
    path = Path(path) if path is not None else default_bundle_path()
    meta = read_meta(path)
    try:
        factory = get_architecture(meta["architecture"], meta.get("factory"), trusted_modules)
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from None
    _check_shapes_first(path, meta, factory)
    try:
        model = factory(**meta.get("arch_kwargs", {}))
    except Exception as exc:
        raise BundleError(
            f"{path}: cannot build architecture {meta['architecture']!r} from "
            f"{meta.get('arch_kwargs')} ({short_error(exc)})"
        ) from None
    state = safetensors_tensors(path)
    check_finite(state, path, "not loaded")
    mismatch = _state_mismatch(model, state)
    if mismatch:
        raise BundleError(
            f"{path}: weights do not fit architecture {meta['architecture']!r} with "
            f"{meta.get('arch_kwargs')} ({mismatch})"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(
            f"{path}: weights do not fit architecture {meta['architecture']!r} ({short_error(exc)})"
        ) from None
    try:
        labels = [canonical(str(x)) for x in meta["labels"]]
        crop = CropSettings.from_dict(meta["crop"])
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path}: pathfer metadata is damaged ({short_error(exc)})") from None
    _check_outputs(model, crop, labels, path)
    model.to(device).eval()
    return Bundle(model=model, labels=labels, crop=crop, meta=meta, path=path)


def _check_shapes_first(path: Path, meta: dict[str, Any], factory: Factory) -> None:
    """Compare the file's tensor shapes (its header) with the architecture's, built on the
    ``meta`` device (shapes without memory), before anything is allocated. A factory that
    cannot build on ``meta`` is checked after building, as before."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:
        raise BundleError(
            f"{path}: weights cannot be read ({short_error(exc)}); the file is corrupt or truncated"
        ) from None
    try:
        with torch.device("meta"):
            skeleton = factory(**meta.get("arch_kwargs", {}))
    except Exception:
        return
    if not isinstance(skeleton, nn.Module):
        return
    mismatch = _state_mismatch(skeleton, shapes)
    if mismatch:
        raise BundleError(
            f"{path}: weights do not fit architecture {meta['architecture']!r} with "
            f"{meta.get('arch_kwargs')} ({mismatch}); nothing was built"
        )


def default_bundle_path() -> Path:
    """Path of the shipped FER2013 mini-Xception bundle (package data)."""
    ref = resources.files("pathfer") / "assets" / DEFAULT_BUNDLE_NAME
    path = Path(str(ref))
    if not path.is_file():
        raise BundleError(
            f"{path}: the default model bundle is missing from the installation; "
            "run scripts/convert_fer_model.py or reinstall pathfer"
        )
    return path
