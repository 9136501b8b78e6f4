"""Rule score_charrnn: next-character accuracy and perplexity over the held-out text, and the
seed's demonstration (a seed string, then greedy generation), in one precision: ONNX Runtime on
the FP32 graph, the description run by numpy on CPU for FP16 (in float16) and int4w (with its
INT4 weights), or the engine on a GPU host."""

from workflow.data.text import decode, encode, read_split
from workflow.formats.wts import read_wts
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.netdef.charrnn import charrnn_from_blobs, run_numpy, with_int4_weights
from workflow.repro import settings
from workflow.score.runtimes import make_runner
from workflow.score.text import generate, score_stream

log_to(snakemake.log[0])
params = snakemake.params
precision = snakemake.wildcards.precision
net = charrnn_from_blobs(read_wts(snakemake.input.wts2), source=snakemake.input.wts2)
test, vocab = read_split(snakemake.input.data, "test")
cfg = params.score
shape = {"layers": net.layers, "hidden": net.hidden}
seed = encode(cfg["seed_text"], vocab, where="score.charrnn.seed_text")


def run(step, runner_name):
    score = score_stream(step, test, streams=cfg["streams"], window=cfg["window"], **shape)
    text = decode(generate(step, seed, cfg["generate"], **shape), vocab)
    return score | {"runner": runner_name}, text


if params.runtime == "ort" and precision == "fp16":  # no FP16 graph: the description in float16
    score, text = run(
        lambda tokens, h0, c0: run_numpy(net, tokens, h0, c0, dtype="float16"),
        "numpy float16 run of the network description (CPU stand-in for the FP16 engine)",
    )
elif params.runtime == "ort" and precision == "int4w":  # its INT4 weights, float32 arithmetic
    rounded = with_int4_weights(net, block_size=params.int4_block)
    score, text = run(
        lambda tokens, h0, c0: run_numpy(rounded, tokens, h0, c0),
        "numpy run of the network description with its INT4 weights (CPU stand-in for the"
        " int4w engine)",
    )
else:
    with make_runner(params.runtime, dict(snakemake.input), module=params.module) as runner:
        score, text = run(
            lambda tokens, h0, c0: runner.infer({"tokens": tokens, "h0": h0, "c0": c0}),
            runner.name,
        )
score |= {"runtime": params.runtime, "reproducibility": settings(threads=1)}
write_json_atomically(snakemake.output.score, score)
write_atomically(snakemake.output.generated, f"{cfg['seed_text']}{text}\n")
