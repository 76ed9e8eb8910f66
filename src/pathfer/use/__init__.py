"""Using a trained model: bundles (one file per model), prediction on images and videos,
ONNX export."""
