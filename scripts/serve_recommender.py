"""Rule serve_recommender: the recommender's graph of one precision answering one seeded query
stream from each worker count in turn; throughput, latency percentiles, the answers, and HR@k and
NDCG@k of the answers (the precision comparison's score file)."""

import io

import numpy as np

from workflow.data.movielens import read_interactions
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.score.serve import serving_report

if __name__ == "__main__":  # workers are spawned and import this module
    log_to(snakemake.log[0])
    params = snakemake.params
    report, answers = serving_report(
        "ort",
        {"onnx": snakemake.input.onnx},
        read_interactions(snakemake.input.data),
        processes=list(params.processes),
        queries=params.queries,
        seed=params.seed,
        k=params.k,
        threads=params.threads,
    )
    buffer = io.BytesIO()
    np.savez(buffer, answers=answers)
    write_atomically(snakemake.output.answers, buffer.getvalue())
    write_json_atomically(snakemake.output.score, report["served"] | {"serving": report["runs"]})
    write_json_atomically(snakemake.output.report, report)
