"""Experiments: configs, the runner (folds x methods x seeds) and metrics."""
