"""ONNX Runtime runner."""

from pathlib import Path
from typing import Any

import numpy as np

from workflow.backend.base import BaseRunner, TensorSpec
from workflow.ort.loader import session_from_onnx

#: ONNX Runtime's type strings for the tensor types the pipeline feeds.
ORT_DTYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(bool)": np.dtype(np.bool_),
}


class OrtRunner(BaseRunner):
    """Runs an ONNX model with ONNX Runtime.

    Args:
        model: path to the ONNX file, or a graph's bytes (one made in memory).
        providers: execution providers. Defaults to CPU only.
        threads: intra-op threads. Defaults to 1.
        optimization: ONNX Runtime's graph optimization level (``GraphOptimizationLevel``
            member name). Defaults to the process's reproducibility mode's.
    """

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        providers: list[str] | None = None,
        threads: int = 1,
        optimization: str | None = None,
    ) -> None:
        super().__init__("ort:<graph in memory>" if isinstance(model, bytes) else f"ort:{model}")
        self.model = model if isinstance(model, bytes) else Path(model)
        self.providers = providers
        self.threads = threads
        self.optimization = optimization
        self.session: Any = None

    def _activate(self) -> None:
        self.session = session_from_onnx(
            self.model,
            providers=self.providers,
            threads=self.threads,
            optimization=self.optimization,
        )

    def _input_metadata(self) -> list[TensorSpec]:
        return [
            TensorSpec(
                item.name,
                ORT_DTYPES[item.type],
                tuple(dim if isinstance(dim, int) else None for dim in item.shape),
            )
            for item in self.session.get_inputs()
        ]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [item.name for item in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feed), strict=True))

    def _deactivate(self) -> None:
        self.session = None
