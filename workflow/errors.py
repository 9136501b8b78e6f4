"""Exceptions raised by the pipeline.

Messages read ``subject | problem | fix``: the file or object concerned, what is wrong, and what
to do about it.
"""


class PipelineError(Exception):
    """Base class of every error the pipeline raises on purpose."""

    def __init__(self, subject: object, problem: str, fix: str | None = None) -> None:
        self.subject = str(subject)
        self.problem = problem
        self.fix = fix
        parts = [self.subject, problem] + ([fix] if fix else [])
        super().__init__(" | ".join(parts))


class FormatError(PipelineError):
    """A file does not follow the format its reader expects."""


class DataError(PipelineError):
    """A dataset is missing, incomplete or fails its checksum."""


class ToleranceError(PipelineError):
    """Two computations that must agree differ by more than the configured tolerance."""


class TensorRTUnavailable(PipelineError):
    """No usable TensorRT module, or one that cannot work on this machine."""


class EngineMismatch(PipelineError):
    """A serialized engine does not fit this machine or this TensorRT."""


class GpuUnavailable(PipelineError):
    """The step needs a CUDA GPU and none is usable here."""


class RunnerError(PipelineError):
    """A runner was misused: inactive, or fed tensors it does not accept."""
