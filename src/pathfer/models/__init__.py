"""The models stage: PathNet and the baselines. They train on tensors and know nothing
of videos, faces, corpora or cached datasets (``pathfer.data``)."""
