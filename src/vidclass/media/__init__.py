"""Pixels in and out: decoding files and live sources (PyAV), frame samplers, motion images (RGB
differences, optical flow), rendering and encoding annotated video."""
