"""Rule serve_recommender: one precision of the recommender (the graph, the engine or the
PyTorch weights, by serve.backend) answering one seeded query stream from each worker count in
turn, under CUDA MPS where serve.mps says; throughput, latency percentiles, the answers, and
HR@k and NDCG@k of the answers (the precision comparison's score file)."""

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
        params.backend,
        dict(snakemake.input),
        read_interactions(snakemake.input.data),
        processes=list(params.processes),
        queries=params.queries,
        seed=params.seed,
        k=params.k,
        threads=params.threads,
        model=dict(params.network),
        precision=snakemake.wildcards.precision,
        mps=params.mps,
    )
    buffer = io.BytesIO()
    np.savez(buffer, answers=answers)
    write_atomically(snakemake.output.answers, buffer.getvalue())
    write_json_atomically(snakemake.output.score, report["served"] | {"serving": report["runs"]})
    write_json_atomically(snakemake.output.report, report)
