"""Baselines trained on the same tensors as PathNet: plain CNN, training loop, ..."""
