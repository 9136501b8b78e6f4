"""Rules calibrate_table(_all): FP32 graph + batch files -> CalibrationTable and range file."""

from pathlib import Path

from workflow.io import write_atomically
from workflow.logs import log_to
from workflow.quant.calibrate import batches_from_folder, calibrate, tensors_to_calibrate
from workflow.quant.table import ranges_to_text, table_from_amax

log_to(snakemake.log[0])
model = Path(snakemake.input.onnx).read_bytes()
amax = calibrate(
    model,
    batches_from_folder(snakemake.input.batches),
    algorithm=snakemake.params.algorithm,
    bins=snakemake.params.bins,
    percentile=snakemake.params.percentile,
    threads=snakemake.params.threads,
    tensors=tensors_to_calibrate(model, snakemake.params.scope),
    workers=snakemake.threads,
)
table = table_from_amax(
    amax, version=snakemake.params.table_version, algorithm=snakemake.params.algorithm
)
write_atomically(snakemake.output.table, table.to_text())
write_atomically(snakemake.output.ranges, ranges_to_text(amax))
