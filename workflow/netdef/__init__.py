"""Networks defined layer by layer: one description, emitted as a TensorRT network or as ONNX."""
