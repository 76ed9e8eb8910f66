"""Export a bundle's model to ONNX.

The exported graph takes ``input``: float32 ``(B, 1, S, S)`` in ``[0, 1]`` (``S`` = the
bundle's crop size; the batch dimension is dynamic) and returns ``probabilities``
``(B, C)`` (softmax applied inside the graph; pass ``output="logits"`` for raw logits,
output name ``logits``). The bundle's labels, crop settings, architecture and the pathfer
version are stored in the model's ``metadata_props`` as ``pathfer.labels`` (JSON list),
``pathfer.crop`` (JSON object), ``pathfer.architecture``, ``pathfer.output``,
``pathfer.input``, ``pathfer.version``, plus a plain comma-separated ``labels``.

Needs the ``export`` extra (``onnx``; ``onnxruntime`` to run the result).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

import pathfer
from pathfer.use.bundle import Bundle, check_finite, load_bundle


class _WithSoftmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=1)


def export_onnx(
    bundle_path: str | Path | Bundle | None,
    out_path: str | Path,
    opset: int = 17,
    *,
    output: str = "probabilities",
) -> Path:
    """Export ``bundle_path`` (a path, a loaded :class:`Bundle`, or None = default model)."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "ONNX export needs the onnx package: pip install 'pathfer[export]'"
        ) from exc
    if output not in {"probabilities", "logits"}:
        raise ValueError(f"output must be 'probabilities' or 'logits', not {output!r}")
    bundle = bundle_path if isinstance(bundle_path, Bundle) else load_bundle(bundle_path)
    if isinstance(bundle_path, Bundle):  # a loaded bundle was checked; one built in memory not
        check_finite(
            bundle.model.state_dict(), Path(str(bundle.path or "<bundle>")), "not exported"
        )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = bundle.model.eval()
    net = _WithSoftmax(model) if output == "probabilities" else model
    size = bundle.crop.size
    dummy = torch.rand(2, 1, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(
            net,
            (dummy,),
            str(out_path),
            dynamo=False,  # the torch.export path needs onnxscript; this one does not
            input_names=["input"],
            output_names=[output],
            dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load(str(out_path))
    props = {
        "pathfer.labels": json.dumps(bundle.labels),
        "labels": ",".join(bundle.labels),
        "pathfer.crop": json.dumps(bundle.crop.as_dict()),
        "pathfer.architecture": bundle.architecture,
        "pathfer.output": output,
        "pathfer.input": f"(B, 1, {size}, {size}) float32 in [0, 1]",
        "pathfer.version": pathfer.__version__,
    }
    del proto.metadata_props[:]
    for k, v in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    proto.producer_name = "pathfer"
    proto.doc_string = (
        f"pathfer {bundle.architecture} over labels {', '.join(bundle.labels)}; input "
        f"(B, 1, {size}, {size}) float32 in [0, 1]; output {output}"
    )
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out_path))
    return out_path


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file as a dict."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
