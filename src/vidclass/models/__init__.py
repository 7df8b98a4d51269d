"""Networks and what runs them: frame encoders (pretrained ImageNet CNNs) and their weights files, temporal
heads over a clip's frames, clip models trained end to end (single frame, fusion, 3D CNN, LRCN, ConvLSTM),
and ONNX Runtime sessions that stand in for them."""
