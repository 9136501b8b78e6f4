"""Rule calibrate_batches_queries: training users and movies -> feed files (batch0.npz, ...)."""

from workflow.data.movielens import calibration_queries, read_interactions
from workflow.logs import log_to
from workflow.quant.batches import write_feed_folder

log_to(snakemake.log[0])
params = snakemake.params
data = read_interactions(snakemake.input.data)
users, movies = calibration_queries(
    data,
    count=params.batch_size * params.batches,
    candidates=data.negatives.shape[1] + 1,
    seed=params.seed,
)
size = params.batch_size
write_feed_folder(
    snakemake.output.batches,
    [
        {"user": users[k * size : (k + 1) * size], "movies": movies[k * size : (k + 1) * size]}
        for k in range(params.batches)
    ],
)
