"""Rule ocr_onnx: a PP-OCRv4 graph shipped in rapidocr-onnxruntime (detector or recogniser)
-> the pipeline's FP32 graph (shared graph preparation, input dimensions named)."""

from workflow.data.ocr import ocr_graph
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to

log_to(snakemake.log[0])
graph, report = ocr_graph(snakemake.params.part, opset=snakemake.params.opset)
write_atomically(snakemake.output.onnx, graph)
write_json_atomically(snakemake.output.report, report)
