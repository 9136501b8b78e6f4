"""Runtimes that run a graph or an engine: the runner interface, ONNX Runtime, TensorRT and the
comparison of their outputs."""
