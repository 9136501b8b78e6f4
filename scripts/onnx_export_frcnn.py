"""Rule onnx_export_frcnn: trained Faster R-CNN weights -> the rpn and head graphs (split at the
proposal step, which runs on the host), each checked against PyTorch on test scenes."""

from workflow.data.detection import read_classes
from workflow.data.images import read_pnm_folder
from workflow.detect.frcnn import FrcnnGeometry
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.frcnn import export_frcnn

log_to(snakemake.log[0])
params = snakemake.params
rpn, head, parity = export_frcnn(
    snakemake.input.weights,
    len(read_classes(snakemake.input.classes)),
    read_pnm_folder(snakemake.input.test)[0][: params.parity_images],
    FrcnnGeometry.from_config(params.detector),
    opset=params.opset,
    batch_size=params.batch_size,
    tolerance=params.tolerance,
)
write_json_atomically(snakemake.output.rpn_parity, parity["rpn"])
write_json_atomically(snakemake.output.head_parity, parity["head"])
write_atomically(snakemake.output.rpn, rpn)
write_atomically(snakemake.output.head, head)
