"""The detector networks by registry name, and the one factory that makes a detector of a spec
(``workflow.models.detector``). A new detector network is its module with a
:class:`~workflow.models.detector.Detector` subclass, and a line here."""

from collections.abc import Mapping
from typing import Any

from workflow.errors import PipelineError
from workflow.models.detector import Detector
from workflow.models.frcnn import FrcnnDetector
from workflow.models.ssd import SsdDetector
from workflow.models.yolo import YoloDetector

#: Every detector class by its registry ``network``.
DETECTORS: dict[str, type[Detector]] = {
    cls.network: cls for cls in (SsdDetector, YoloDetector, FrcnnDetector)
}


def detector_class(network: str) -> type[Detector]:
    """The detector class of a registry ``network``.

    Raises:
        PipelineError: no detector has that name; the message names the choices.
    """
    if network not in DETECTORS:
        raise PipelineError(
            f"detector {network!r}",
            "is no detector network",
            f"choose among {', '.join(DETECTORS)}",
        )
    return DETECTORS[network]


def detector_from(spec: Mapping[str, Any]) -> Detector:
    """The detector of a spec (``{"network": ..., ...}``, a rule's ``detector`` param).

    Raises:
        PipelineError: the spec names no network, or an unknown one.
    """
    if "network" not in spec:
        raise PipelineError(
            f"detector {dict(spec)}",
            "names no network",
            f"give 'network': one of {', '.join(DETECTORS)}",
        )
    return detector_class(spec["network"])(spec)
