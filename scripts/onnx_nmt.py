"""Rule onnx_nmt: the seed's seven weight files read strictly into the description, written as
the encoder graph and the decoder-step graph, and checked against the TensorFlow checkpoint:
log-probabilities along greedy translations of test sentences, and the greedy translations
themselves the same from both."""

import logging
from pathlib import Path

from workflow.data.translation import EOS, SOS, encode, read_parallel, read_vocab
from workflow.errors import ToleranceError
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.models.nmt import restore, teacher_forced_logprobs
from workflow.models.nmt_bin import read_bins
from workflow.netdef.nmt import onnx_decoder, onnx_encoder
from workflow.ort.runner import OrtRunner
from workflow.score.translate import framework_parity

log_to(snakemake.log[0])
log = logging.getLogger("onnx_nmt")
params = snakemake.params
source_lang, target_lang = params.langs
folder = Path(snakemake.input.data)
src_vocab, tgt_vocab = (read_vocab(folder / f"vocab.{lang}") for lang in params.langs)
sos, eos = tgt_vocab.index(SOS), tgt_vocab.index(EOS)
net = read_bins(Path(snakemake.input.encembed).parent)
graphs = {
    "encoder": onnx_encoder(net, opset=params.opset),
    "decoder": onnx_decoder(net, opset=params.opset, eos=eos),
}


model = restore(
    snakemake.input.index.removesuffix(".index"),
    source_vocab=len(src_vocab),
    target_vocab=len(tgt_vocab),
    units=net.units,
    forget_bias=params.train["forget_bias"],
)
sources, _ = read_parallel(folder, "test", source=source_lang, target=target_lang)
with OrtRunner(graphs["encoder"]) as encoder, OrtRunner(graphs["decoder"]) as decoder:
    report = framework_parity(
        lambda source, target: teacher_forced_logprobs(model, source, target, sos=sos),
        encoder.infer,
        decoder.infer,
        encode(sources[: params.parity_sentences], src_vocab),
        sos=sos,
        eos=eos,
    )
report["tolerance"] = params.tolerance
log.info("parity | %s", report)
if report["max_abs_diff"] > params.tolerance or not report["greedy_identical"]:
    raise ToleranceError(
        "onnx nmt",
        f"the graphs' probabilities differ from TensorFlow's by up to "
        f"{report['max_abs_diff']:.3g} (tolerance {params.tolerance:.3g}); greedy translations "
        f"identical: {report['greedy_identical']}",
        "inspect the gate conversion and chpt_to_bin (workflow/netdef/nmt.py)",
    )
write_json_atomically(snakemake.output.parity, report)
write_atomically(snakemake.output.encoder, graphs["encoder"])
write_atomically(snakemake.output.decoder, graphs["decoder"])
