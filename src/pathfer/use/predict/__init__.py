"""Prediction with a model bundle: images, videos and frames -> one row per frame and face.

``recognizer`` (model + crop settings + detector), ``inputs`` (files, folders, globs),
``annotate`` (boxes and labels drawn on the frames), ``results`` (columns, summary, files).
"""

from pathfer.use.predict.annotate import Annotator, draw
from pathfer.use.predict.inputs import expand_inputs, predict_paths
from pathfer.use.predict.recognizer import Recognizer
from pathfer.use.predict.results import (
    BASE_COLUMNS,
    RESULT_FORMATS,
    PredictWarning,
    prob_columns,
    summarize,
    write_results,
)

__all__ = [
    "BASE_COLUMNS",
    "RESULT_FORMATS",
    "Annotator",
    "PredictWarning",
    "Recognizer",
    "draw",
    "expand_inputs",
    "predict_paths",
    "prob_columns",
    "summarize",
    "write_results",
]
