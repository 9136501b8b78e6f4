"""Rule plugin_library: plugins/ built with CMake into the plugin library, or a clear message
saying what this machine lacks (the CUDA toolkit with cuBLAS, cmake, TensorRT's headers)."""

import logging
import shutil
from pathlib import Path

from workflow.errors import PipelineError
from workflow.logs import log_to
from workflow.plugins.build import build_library, exported_symbols

log_to(snakemake.log[0])
params = snakemake.params
if not params.tensorrt_include:
    raise PipelineError(
        "plugins.tensorrt_include",
        "empty: the plugin library is compiled against TensorRT's headers",
        "set it to the folder holding NvInferRuntime.h (a TensorRT installation's include/)",
    )
output = Path(snakemake.output.library)
library, log = build_library(
    output.parent / "build",
    tensorrt_include=params.tensorrt_include,
    architectures=params.architectures,
    jobs=snakemake.threads,
)
logging.getLogger("plugin_library").info("%s\nsymbols: %s", log, exported_symbols(library))
shutil.copyfile(library, output)
