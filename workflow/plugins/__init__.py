"""The sample plugins (``plugins/``): their description (names, fields, ONNX nodes), the CPU
reference that lets ONNX Runtime run graphs holding them, Triton versions of their kernels,
and the build and GPU check of the C++ library."""
