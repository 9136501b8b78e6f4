"""Rule score_recommend: HR@k and NDCG@k of every test user's held-out movie among its
candidates, the popularity baseline, and the recommendations printed for a few users."""

from workflow.data.movielens import read_interactions
from workflow.io import write_atomically, write_json_atomically
from workflow.logs import log_to
from workflow.repro import settings
from workflow.score.recommend import (
    popularity_baseline,
    ranking,
    recommend,
    recommendations_text,
)
from workflow.score.runtimes import make_runner

log_to(snakemake.log[0])
params = snakemake.params
data = read_interactions(snakemake.input.data)
users, movies = data.candidates()
runner = make_runner(
    params.runtime, dict(snakemake.input), module=params.module, threads=params.threads
)
with runner:
    best, scores = recommend(runner, users, movies, k=params.k, batch_size=params.batch_size)
score = ranking(best, data.test_movies, params.k) | {
    "baseline": {
        "popularity": popularity_baseline(data.popularity(), movies, data.test_movies, params.k)
    },
    "runner": runner.name,
    "runtime": params.runtime,
    "reproducibility": settings(threads=params.threads),
}
shown = slice(0, params.show_users)
text = recommendations_text(
    users[shown],
    best[shown],
    scores[shown],
    titles=data.titles,
    movie_ids=data.movie_ids,
    held_out=data.test_movies[shown],
)
write_json_atomically(snakemake.output.score, score)
write_atomically(snakemake.output.shown, text.encode())
