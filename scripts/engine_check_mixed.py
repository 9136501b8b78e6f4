"""Rule engine_check_mixed: the mixed engine's layer report against the layer map of the graph it
was built from -> a check JSON (every node as the map says, the INT8 share by the map and by the
engine); the job fails, naming the nodes, where the engine differs from the map."""

import json
import logging

from workflow.io import write_json_atomically
from workflow.logs import log_to
from workflow.trt.mixed import check_against_map, mismatch_error

log_to(snakemake.log[0])
with open(snakemake.input.engine) as handle:
    report = json.load(handle)
with open(snakemake.input.layer_map) as handle:
    layer_map = json.load(handle)
check = check_against_map(report, layer_map)
for row in check["differences"]:
    logging.error("mixed engine | %s", row)
logging.info("mixed engine | %s", {k: v for k, v in check.items() if k != "unmapped"})
if not check["agrees"]:
    raise mismatch_error(check, snakemake.input.engine.removesuffix(".layers.json") + ".plan")
write_json_atomically(snakemake.output.check, check)
