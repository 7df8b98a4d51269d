"""Using a trained model: predictions and their records, timelines over long videos and live sources
(smoothing, logs, plots), annotated output video, scoring timelines against labeled segments, export to
ONNX or TorchScript, and the demo."""
