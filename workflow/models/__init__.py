"""Model definitions, training and export to ONNX (torch is imported lazily)."""
