"""ONNX Runtime backend: runs the pipeline's graphs on CPU (or CUDA where present)."""
