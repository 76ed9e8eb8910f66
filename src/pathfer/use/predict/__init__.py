"""Prediction on images, videos and frames with a model bundle."""

from pathfer.use.predict.recognizer import *  # noqa: F401,F403
