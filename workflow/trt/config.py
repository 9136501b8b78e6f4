"""The options of an engine build, as one value: what the rules hand to every builder.

Kept apart from the loaders (no TensorRT or Polygraphy import), so that the Snakefile can make
the rule param from the config without loading either.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from workflow.errors import PipelineError


@dataclass(frozen=True)
class BuildConfig:
    """Options of one strongly typed engine build.

    Args:
        module: ``auto``, ``tensorrt`` or ``tensorrt_rtx``.
        batch: (min, opt, max) batch of the optimization profile, applied to every input whose
            first dimension is dynamic.
        workspace_mib: builder workspace limit in MiB.
        compute_capabilities: TensorRT-RTX targets such as ``"8.6"``; empty for the builder's
            default (full TensorRT always builds for the GPU it runs on).
        optimization_level: builder optimization level 0..5.
    """

    module: str
    batch: tuple[int, int, int]
    workspace_mib: int
    compute_capabilities: tuple[str, ...]
    optimization_level: int

    def __post_init__(self) -> None:
        low, opt, high = self.batch
        if not 1 <= low <= opt <= high:
            raise PipelineError("engine.batch", f"need 1 <= min <= opt <= max, got {self.batch}")
        if not 0 <= self.optimization_level <= 5:
            raise PipelineError(
                "engine.optimization_level", f"{self.optimization_level}, expected 0..5"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], sample: str | None = None) -> "BuildConfig":
        """The build options of the workflow config (keys ``tensorrt`` and ``engine``); with a
        ``sample``, its entry in ``engine.per_sample`` (a batch profile, a workspace) over
        them."""
        engine = config["engine"]
        own = engine.get("per_sample", {}).get(sample, {}) if sample else {}
        batch = engine["batch"] | own.get("batch", {})
        return cls(
            module=config["tensorrt"]["module"],
            batch=(batch["min"], batch["opt"], batch["max"]),
            workspace_mib=own.get("workspace_mib", engine["workspace_mib"]),
            compute_capabilities=tuple(config["tensorrt"]["compute_capabilities"]),
            optimization_level=config["engine"]["optimization_level"],
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "BuildConfig":
        """Back from :meth:`as_params` (a rule's ``build`` param)."""
        return cls(
            module=params["module"],
            batch=tuple(params["batch"]),
            workspace_mib=params["workspace_mib"],
            compute_capabilities=tuple(params["compute_capabilities"]),
            optimization_level=params["optimization_level"],
        )

    def as_params(self) -> dict[str, Any]:
        """Plain data for a rule param (Snakemake compares params by value)."""
        return asdict(self) | {
            "batch": list(self.batch),
            "compute_capabilities": list(self.compute_capabilities),
        }
