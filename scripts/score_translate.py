"""Rule score_translate: the test split translated with beam search on the host in one
precision (ONNX Runtime on the graphs of the precision, the description run in float16 by numpy
for FP16 on CPU, or the two engines on a GPU host); the seed's three data writers: translations.txt
(text), bleu.json (bleu, with greedy decoding's BLEU beside the beam's) and benchmark.json."""

from contextlib import ExitStack
from pathlib import Path

from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.nmt_bin import read_bins
from workflow.repro import settings
from workflow.score.runtimes import make_runner, part_files
from workflow.score.translate import BeamOptions, corpus_report, numpy_graphs

log_to(snakemake.log[0])
params = snakemake.params
files = dict(snakemake.input)
net = read_bins(Path(snakemake.input.encembed).parent)
with ExitStack() as stack:
    if params.runtime == "ort" and snakemake.wildcards.precision == "fp16":
        encoder, decoder = numpy_graphs(
            net, folder=snakemake.input.data, langs=params.langs, dtype="float16"
        )
        runner = "numpy float16 run of the network description (CPU stand-in for the FP16 engines)"
    else:
        runners = [
            stack.enter_context(
                make_runner(params.runtime, part_files(files, part), module=params.module)
            )
            for part in ("encoder", "decoder")
        ]
        encoder, decoder = (r.infer for r in runners)
        runner = runners[0].name
    report, text, benchmark = corpus_report(
        encoder,
        decoder,
        folder=snakemake.input.data,
        langs=params.langs,
        options=BeamOptions.from_params(params.translate),
    )
extra = {"runner": runner, "runtime": params.runtime, "reproducibility": settings(threads=1)}
write_json_atomically(snakemake.output.score, report | extra)
write_json_atomically(snakemake.output.benchmark, benchmark | extra)
write_atomically(snakemake.output.translations, text.encode())
