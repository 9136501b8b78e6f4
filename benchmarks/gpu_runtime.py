"""What the TensorRT runner needs of a GPU host besides TensorRT itself, checked on a GPU.

No machine of this project has a TensorRT that runs engines, but the runner's other two
dependencies can be exercised on any CUDA GPU: ``workflow.trt.gpu.gpu_info`` (cuda-python's
runtime bindings: device name and compute capability, what ``.plan.json`` is checked against)
and Polygraphy's CUDA wrapper (``polygraphy.cuda``: the runtime library Polygraphy's
``TrtRunner`` loads for its device buffers and stream). Prints what it found; exit status 1 when
a round trip through device memory does not give the bytes back.

    python benchmarks/gpu_runtime.py
"""

import sys

import numpy as np


def main() -> int:
    from workflow.trt.gpu import gpu_info

    gpu, reason = gpu_info()
    print(f"gpu_info: {gpu} {reason}".strip())
    if gpu is None:
        return 2
    from polygraphy import cuda

    host = np.random.default_rng(0).normal(size=(64, 7)).astype(np.float32)
    stream = cuda.Stream()
    device = cuda.DeviceArray(shape=host.shape, dtype=np.float32)
    device.copy_from(host, stream=stream)
    back = np.empty_like(host)
    device.copy_to(back, stream=stream)
    stream.synchronize()
    same = bool(np.array_equal(back, host))
    print(f"polygraphy.cuda round trip of {host.nbytes} bytes: {'equal' if same else 'DIFFERENT'}")
    device.free()
    stream.free()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
