"""The runner interface shared by every runtime (ONNX Runtime, TensorRT).

A runner is activated (resources made), fed dicts of named numpy arrays and deactivated
(resources freed). The base class checks that the runner is active and that every feed has
exactly the expected names, dtypes and shapes, so subclasses implement only ``_activate``,
``_infer``, ``_deactivate`` and ``_input_metadata``.
"""

import time
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from workflow.errors import RunnerError


@dataclass(frozen=True)
class TensorSpec:
    """Name, dtype and shape of a runner input; ``None`` marks a dynamic dimension."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


class BaseRunner:
    """Base of all runners: activation state, feed checks, timing, context manager.

    Args:
        name: how the runner is named in logs and errors, e.g. ``"ort:model.onnx"``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_active = False
        self.inference_time: float | None = None
        self._specs: dict[str, TensorSpec] | None = None

    def activate(self) -> None:
        """Make the runtime's resources (session, engine, buffers)."""
        if self.is_active:
            raise RunnerError(self.name, "already active", "call deactivate() first")
        self._activate()
        self._specs = {spec.name: spec for spec in self._input_metadata()}
        self.is_active = True

    def deactivate(self) -> None:
        """Free the runtime's resources; the runner can be activated again."""
        if not self.is_active:
            raise RunnerError(self.name, "not active")
        try:
            self._deactivate()
        finally:
            self.is_active = False
            self._specs = None

    def input_metadata(self) -> dict[str, TensorSpec]:
        """Return the inputs the runner expects, by name."""
        if self._specs is None:
            raise RunnerError(self.name, "not active", "call activate() or use a with block")
        return dict(self._specs)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference.

        Args:
            feed: one array per input name, with the input's dtype and a compatible shape.

        Returns:
            Host arrays by output name; the caller may keep them.

        Raises:
            RunnerError: the runner is inactive, or the feed has wrong names, dtypes or shapes.
        """
        specs = self.input_metadata()
        if set(feed) != set(specs):
            raise RunnerError(
                self.name,
                f"feed has inputs {sorted(feed)}, expected {sorted(specs)}",
            )
        for name, spec in specs.items():
            array = feed[name]
            if array.dtype != spec.dtype:
                raise RunnerError(
                    self.name, f"input {name!r} is {array.dtype}, expected {spec.dtype}"
                )
            fits = array.ndim == len(spec.shape) and all(
                want is None or want == got
                for want, got in zip(spec.shape, array.shape, strict=True)
            )
            if not fits:
                raise RunnerError(
                    self.name,
                    f"input {name!r} has shape {array.shape}, expected {spec.shape}",
                    "None marks a dynamic dimension",
                )
        start = time.perf_counter()
        outputs = self._infer(feed)
        self.inference_time = time.perf_counter() - start
        return outputs

    def __enter__(self) -> "BaseRunner":
        self.activate()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    def _activate(self) -> None:
        raise NotImplementedError

    def _deactivate(self) -> None:
        raise NotImplementedError

    def _input_metadata(self) -> list[TensorSpec]:
        raise NotImplementedError

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError
