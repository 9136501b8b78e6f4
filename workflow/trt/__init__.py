"""TensorRT backend: one strongly typed build path for TensorRT 10, 11 and TensorRT-RTX."""
