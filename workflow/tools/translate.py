"""sample_nmt's command line for the pipeline's translator: translate a data folder's test split
with beam search on the host and write what ``--data_writer`` asks for: ``text`` (the
translations, one per line, into ``--output_file``), ``bleu`` (BLEU with sacrebleu, greedy's
beside the beam's) or ``benchmark`` (sentences and tokens per second).

The graphs run on ONNX Runtime (``--onnx_dir``, the folder holding nmt_encoder/ and
nmt_decoder/), as TensorRT engines on a GPU host (``--engines``: encoder and decoder plans), or
as the numpy run of the weight files (``--runtime numpy``, with ``--fp16`` in float16).

    trtsamples translate --data_dir results/data/translation-numbers \\
        --weights results/weights/nmt --onnx_dir results/onnx --data_writer bleu
    trtsamples translate --data_dir ... --weights ... --runtime numpy --fp16 \\
        --data_writer text --output_file translation_output.txt --beam 1

Exit status 2 on bad input, with the reason.
"""

import argparse
import json
import sys

from workflow.errors import PipelineError
from workflow.models.nmt_bin import read_bins
from workflow.score.runtimes import make_runner
from workflow.score.translate import BeamOptions, corpus_report, numpy_graphs


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the tool on ``argv`` (default: the command line) under the name ``prog``
    (default: the program's file name); return its exit status."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", required=True, help="test.<lang> and vocab.<lang> files")
    parser.add_argument("--weights", required=True, help="the seven .bin files")
    parser.add_argument("--langs", default="fr,en", help="source,target (default: fr,en)")
    parser.add_argument("--runtime", choices=["ort", "trt", "numpy"], default="ort")
    parser.add_argument(
        "--onnx_dir", help="folder with nmt_encoder/model.onnx and nmt_decoder/ (ort)"
    )
    parser.add_argument("--engines", nargs=2, metavar=("ENCODER", "DECODER"), help="plans (trt)")
    parser.add_argument("--fp16", action="store_true", help="numpy: run in float16")
    parser.add_argument("--data_writer", choices=["bleu", "text", "benchmark"], default="bleu")
    parser.add_argument("--output_file", default="translation_output.txt", help="for text")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--max_input_sequence_length", type=int, default=150)
    parser.add_argument("--max_output_sequence_length", type=int, default=-1)
    parser.add_argument("--max_inference_samples", type=int, default=-1)
    parser.add_argument("--length_penalty", type=float, default=0.0)
    args = parser.parse_args(argv)
    langs = args.langs.split(",")
    if len(langs) != 2:
        parser.error("--langs takes two codes, source,target")
    if args.runtime == "ort" and not args.onnx_dir:
        parser.error("--onnx_dir is required with --runtime ort")
    if args.runtime == "trt" and not args.engines:
        parser.error("--engines is required with --runtime trt")
    try:
        options = BeamOptions(
            beam=args.beam,
            batch=args.batch,
            max_input_length=args.max_input_sequence_length,
            max_output_length=args.max_output_sequence_length,
            max_samples=args.max_inference_samples,
            length_penalty=args.length_penalty,
        )
        if args.runtime == "numpy":
            net = read_bins(args.weights)
            dtype = "float16" if args.fp16 else "float32"
            encoder, decoder = numpy_graphs(net, folder=args.data_dir, langs=langs, dtype=dtype)
            report, text, benchmark = corpus_report(
                encoder, decoder, folder=args.data_dir, langs=langs, options=options
            )
        else:
            if args.runtime == "ort":
                files = [
                    {"onnx": f"{args.onnx_dir}/nmt_{part}/model.onnx"}
                    for part in ("encoder", "decoder")
                ]
            else:
                files = [{"plan": plan, "meta": f"{plan}.json"} for plan in args.engines]
            with (
                make_runner(args.runtime, files[0]) as enc,
                make_runner(args.runtime, files[1]) as dec,
            ):
                report, text, benchmark = corpus_report(
                    enc.infer, dec.infer, folder=args.data_dir, langs=langs, options=options
                )
    except (PipelineError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.data_writer == "text":
        with open(args.output_file, "w", encoding="utf-8") as out:
            out.writelines(line.split("\t")[2] + "\n" for line in text.splitlines())
        print(f"{report['count']} translations written to {args.output_file}")
    elif args.data_writer == "bleu":
        print(
            f"BLEU {report['bleu']:.2f} (beam {report['beam']}; "
            f"greedy {report['greedy']['bleu']:.2f})"
        )
        print(
            f"exact {report['exact']:.4f} over {report['count']} sentences, {report['signature']}"
        )
    else:
        print(json.dumps(benchmark, indent=2))
    return 0
