"""Rule profile_layers: one engine's layers timed one by one (sampleGoogleNet's profiler):
ONNX Runtime's per-node profile of the precision's graph on CPU, or TensorRT's IProfiler on
the engine on a GPU host; one table format (workflow/score/profile.py)."""

import json
from pathlib import Path

from workflow.data.objects import interleaved, read_image_split, to_network_input
from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.score.profile import ort_profile, trt_profile
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
params = snakemake.params
cfg = params.profile
test, _ = read_image_split(snakemake.input.data, "test")
order = interleaved(test.labels)[: cfg["batch_size"]]
inputs = to_network_input(test, params.preprocess, params.input_size)[order]
runs = {"warmup": cfg["warmup"], "runs": cfg["runs"]}
if params.runtime == "ort":
    table = ort_profile(snakemake.input.onnx, inputs, threads=cfg["threads"], **runs)
else:
    report = json.loads(Path(snakemake.input.layers).read_text())
    types = {layer["name"]: layer["type"] for layer in report["layers"]}
    with make_runner("trt", dict(snakemake.input), module=params.module) as runner:
        table = trt_profile(runner, inputs, layer_types=types, **runs)
write_json_atomically(
    snakemake.output.profile, table | {"precision": snakemake.wildcards.precision}
)
