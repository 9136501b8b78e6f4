"""Rule data_movielens: generated interactions or MovieLens 1M -> leave-one-out split."""

from workflow.data.download import check_md5
from workflow.data.movielens import (
    ML1M_ARCHIVE,
    generate,
    leave_one_out,
    read_ml1m,
    write_interactions,
)
from workflow.logs import log_to

log_to(snakemake.log[0])
params = snakemake.params
if params.source == "ml-1m":
    archive = check_md5(snakemake.input.archive, ML1M_ARCHIVE[1], url=params.url)
    users, movies, movie_ids, titles = read_ml1m(archive)
else:
    users, movies = generate(**params.generate)
    movie_ids, titles = None, None
data = leave_one_out(
    users,
    movies,
    num_movies=int(movies.max()) + 1 if movie_ids is None else len(movie_ids),
    negatives=params.negatives,
    seed=params.seed,
    movie_ids=movie_ids,
    titles=titles,
)
write_interactions(snakemake.output.folder, data)
