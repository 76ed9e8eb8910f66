"""Prediction with a model bundle: files, arrays, PIL images and streams -> one row per frame
and face.

``classifier`` (model + labels + crop settings on a device: crops -> probabilities),
``recognizer`` (the classifier + a face detector; ``predict``, ``stream``),
``sources`` (arrays, PIL images, iterables, cameras and URLs -> frames), ``inputs`` (files,
folders, globs, worker processes), ``annotate`` (boxes and labels drawn on the frames),
``results`` (the :class:`Predictions` frame, summary, files), ``timeline`` (emotions over
time as a PNG), ``progress`` (the progress bar), ``live`` (a camera window or rows as they
come), ``device`` (cpu, cuda, mps), ``job`` (a ``pathfer predict`` job from typed options).
"""

from pathfer.use.predict.annotate import Annotator, draw
from pathfer.use.predict.classifier import FaceClassifier
from pathfer.use.predict.device import DEVICES, resolve_device
from pathfer.use.predict.inputs import expand_inputs
from pathfer.use.predict.recognizer import Recognizer, predict_paths
from pathfer.use.predict.results import (
    BASE_COLUMNS,
    RESULT_FORMATS,
    PredictInterrupted,
    Predictions,
    PredictWarning,
    prob_columns,
    summarize,
    write_results,
)
from pathfer.use.predict.sources import COLORS
from pathfer.use.predict.timeline import plot_timeline

__all__ = [
    "BASE_COLUMNS",
    "COLORS",
    "DEVICES",
    "RESULT_FORMATS",
    "Annotator",
    "FaceClassifier",
    "PredictInterrupted",
    "PredictWarning",
    "Predictions",
    "Recognizer",
    "draw",
    "expand_inputs",
    "plot_timeline",
    "predict_paths",
    "prob_columns",
    "resolve_device",
    "summarize",
    "write_results",
]
