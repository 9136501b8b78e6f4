"""Reduced precision: calibration batch files, calibrators, tables, FP16 and INT8 Q/DQ graphs.

Today's TensorRT has no calibrator API and no FP16/INT8 builder flags: the pipeline calibrates
itself (running the FP32 graph in ONNX Runtime) and writes the precision into the ONNX graph.
"""
