"""Experiments: configs, the method registry and the runner (folds x methods x seeds)."""
