"""The TensorRT samples pipeline: the library behind the Snakemake rules.

Every module imports on a CPU-only machine: ``torch``, ``tensorrt``/``tensorrt_rtx``,
``onnxruntime`` and the CUDA bindings are imported inside the functions that need them.
"""
