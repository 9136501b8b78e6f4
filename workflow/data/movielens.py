"""Implicit-feedback interactions for the recommender samples: generated or MovieLens 1M.

The embedded default needs no network: users and movies with seeded latent factors, movie
popularity falling off as a power of its rank, and each user's interactions drawn without
replacement from a softmax over affinity plus popularity (the Gumbel top-k trick), in the order
drawn (their "time"). The real option is MovieLens 1M (``ml-1m.zip``, GroupLens: 6,040 users,
3,706 rated movies, 1,000,209 ratings): every rating is an interaction, ordered by timestamp.

Both are split as in the NCF paper (He et al., 2017): each user's latest interaction is held
out for the test, ranked against ``negatives`` movies the user never interacted with, sampled
with a fixed seed. Users and movies are renumbered 0.. in order of first appearance in the
source (MovieLens ids are kept in ``movie_ids`` for the titles).
"""

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workflow.errors import DataError, FormatError
from workflow.io import write_atomically

#: The real MovieLens 1M: file name and md5 (GroupLens publishes ml-1m.zip.md5).
ML1M_ARCHIVE = ("ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906")
SOURCES = ("generated", "ml-1m")


@dataclass(frozen=True)
class Interactions:
    """A leave-one-out split of implicit feedback.

    ``train_users``/``train_movies``: the training interactions (pairs, each user's in time
    order); ``test_movies[u]``: user u's held-out latest interaction; ``negatives[u]``: movies
    user u never interacted with, ranked against it; ``movie_ids``/``titles``: each movie's id in
    the source and its title.
    """

    train_users: np.ndarray
    train_movies: np.ndarray
    test_movies: np.ndarray
    negatives: np.ndarray
    movie_ids: np.ndarray
    titles: list[str]

    @property
    def num_users(self) -> int:
        return len(self.test_movies)

    @property
    def num_movies(self) -> int:
        return len(self.movie_ids)

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """The test queries: (user ids (U,), candidate movies (U, negatives + 1)), the held-out
        movie last in each row.

        Last, so that a top-k list that breaks ties toward the earlier candidate (as
        :func:`workflow.score.recommend.top_k` does) ranks the held-out movie after every
        negative scoring the same: ties count against it, never for it (a model scoring every
        candidate alike hits nothing).
        """
        users = np.arange(self.num_users, dtype=np.int64)
        movies = np.concatenate([self.negatives, self.test_movies[:, None]], axis=1)
        return users, movies.astype(np.int64)

    def popularity(self) -> np.ndarray:
        """Training interactions per movie (the popularity baseline's score)."""
        return np.bincount(self.train_movies, minlength=self.num_movies)


def generate(
    *,
    users: int,
    movies: int,
    factors: int,
    interactions: tuple[int, int],
    popularity: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded interactions: (user, movie) pairs, each user's in time order.

    Args:
        users: number of users.
        movies: number of movies.
        factors: latent dimensions of the affinity.
        interactions: (fewest, most) interactions per user, drawn uniformly.
        popularity: exponent of the popularity fall-off (score += -popularity * log(rank)).
        seed: everything derives from it.

    Raises:
        DataError: a user would need more movies than exist.
    """
    low, high = interactions
    if not 2 <= low <= high < movies:
        raise DataError(
            "data.movielens.interactions",
            f"{interactions} per user with {movies} movies",
            "need 2 <= fewest <= most < movies (one is held out, the rest train)",
        )
    rng = np.random.default_rng(seed)
    user_factors = rng.normal(size=(users, factors)) / np.sqrt(factors)
    movie_factors = rng.normal(size=(movies, factors))
    bias = -popularity * np.log1p(rng.permutation(movies).astype(np.float64))
    counts = rng.integers(low, high + 1, size=users)
    pairs_u, pairs_m = [], []
    for user in range(users):
        logits = 2.0 * user_factors[user] @ movie_factors.T + bias
        gumbel = logits - np.log(-np.log(rng.random(movies)))
        chosen = np.argsort(-gumbel, kind="stable")[: counts[user]]
        pairs_u.append(np.full(len(chosen), user))
        pairs_m.append(chosen)
    return np.concatenate(pairs_u).astype(np.int64), np.concatenate(pairs_m).astype(np.int64)


def read_ml1m(archive: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """MovieLens 1M as (user, movie) pairs in time order per user, renumbered from 0, with the
    source's movie ids and every renumbered movie's title.

    Raises:
        FormatError: the archive lacks ratings.dat or movies.dat, or a line is malformed.
    """
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        try:
            ratings = zf.read("ml-1m/ratings.dat").decode("latin-1")
            movies = zf.read("ml-1m/movies.dat").decode("latin-1")
        except KeyError as err:
            raise FormatError("ml-1m.zip", f"no {err.args[0]}") from err
    rows = []
    for number, line in enumerate(ratings.splitlines(), 1):
        fields = line.split("::")
        if len(fields) != 4:
            raise FormatError("ml-1m/ratings.dat", f"line {number}: {line!r}, expected 4 fields")
        rows.append([int(fields[0]), int(fields[1]), int(fields[3])])
    data = np.array(rows, dtype=np.int64)
    order = np.lexsort((data[:, 1], data[:, 2], data[:, 0]))  # by user, then time, then movie
    data = data[order]
    _, users = np.unique(data[:, 0], return_inverse=True)
    movie_ids, first = np.unique(data[:, 1], return_index=True)
    movie_ids = movie_ids[np.argsort(first, kind="stable")]  # in order of first appearance
    index = {movie: i for i, movie in enumerate(movie_ids.tolist())}
    renumbered = np.array([index[m] for m in data[:, 1].tolist()], dtype=np.int64)
    names = {}
    for line in movies.splitlines():
        fields = line.split("::")
        if len(fields) == 3:
            names[int(fields[0])] = fields[1]
    titles = [names.get(int(m), f"movie {m}") for m in movie_ids]
    return users.astype(np.int64), renumbered, movie_ids.astype(np.int64), titles


def leave_one_out(
    users: np.ndarray,
    movies: np.ndarray,
    *,
    num_movies: int,
    negatives: int,
    seed: int,
    movie_ids: np.ndarray | None = None,
    titles: list[str] | None = None,
) -> Interactions:
    """Hold out each user's latest interaction; sample ``negatives`` never-seen movies for it.

    Args:
        users, movies: interactions, each user's in time order (users numbered 0..U-1).
        num_movies: movies numbered 0..M-1.
        negatives: sampled negatives per test user (the NCF paper: 99).
        seed: negative sampling seed.
        movie_ids, titles: the source's movie ids and titles (default: the numbers themselves).

    Raises:
        DataError: a user with fewer than two interactions, or fewer unseen movies than
            ``negatives``.
    """
    num_users = int(users.max()) + 1
    per_user = np.bincount(users, minlength=num_users)
    if (per_user < 2).any():
        raise DataError("interactions", f"user {int(np.argmin(per_user))} has < 2 interactions")
    last = np.cumsum(per_user) - 1  # users are contiguous, in time order
    if not (np.diff(users) >= 0).all():
        raise DataError("interactions", "not grouped by user")
    keep = np.ones(len(users), dtype=bool)
    keep[last] = False
    test = movies[last]
    rng = np.random.default_rng(seed)
    seen = np.zeros((num_users, num_movies), dtype=bool)
    seen[users, movies] = True
    if ((num_movies - seen.sum(axis=1)) < negatives).any():
        raise DataError("interactions", f"a user has seen too many movies to draw {negatives}")
    sampled = np.empty((num_users, negatives), dtype=np.int64)
    for user in range(num_users):
        unseen = np.flatnonzero(~seen[user])
        sampled[user] = rng.choice(unseen, size=negatives, replace=False)
    ids = np.arange(num_movies, dtype=np.int64) if movie_ids is None else movie_ids
    return Interactions(
        train_users=users[keep],
        train_movies=movies[keep],
        test_movies=test,
        negatives=sampled,
        movie_ids=ids,
        titles=titles if titles is not None else [f"movie {m}" for m in ids],
    )


def write_interactions(folder: str | Path, data: Interactions) -> None:
    """``interactions.npz`` (the arrays) and ``titles.txt`` (one title per movie) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        train_users=data.train_users,
        train_movies=data.train_movies,
        test_movies=data.test_movies,
        negatives=data.negatives,
        movie_ids=data.movie_ids,
    )
    write_atomically(folder / "interactions.npz", buffer.getvalue())
    write_atomically(folder / "titles.txt", "".join(f"{t}\n" for t in data.titles).encode())


def read_interactions(folder: str | Path) -> Interactions:
    """Read what :func:`write_interactions` wrote.

    Raises:
        DataError: a file is missing. FormatError: the arrays do not fit together.
    """
    folder = Path(folder)
    path = folder / "interactions.npz"
    if not path.is_file():
        raise DataError(path, "missing", "build it: snakemake results/data/...")
    with np.load(path) as arrays:
        fields = {k: arrays[k] for k in arrays.files}
    titles = (folder / "titles.txt").read_text().splitlines()
    data = Interactions(**fields, titles=titles)
    if len(data.titles) != data.num_movies or data.negatives.shape[0] != data.num_users:
        raise FormatError(path, "titles, movies and users do not match")
    if data.train_movies.max(initial=0) >= data.num_movies:
        raise FormatError(path, "a training interaction names an unknown movie")
    return data


def calibration_queries(
    data: Interactions, *, count: int, candidates: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Queries from the training split for INT8 calibration: ``count`` users (seeded, without
    replacement while there are enough), each with up to half of ``candidates`` of its
    training movies and never-seen ones for the rest (never its held-out movie), shuffled.

    Returns:
        (users (count,), movies (count, candidates)), int64.
    """
    rng = np.random.default_rng(seed)
    users = rng.choice(data.num_users, size=count, replace=count > data.num_users)
    starts = np.concatenate(
        [[0], np.cumsum(np.bincount(data.train_users, minlength=data.num_users))]
    )
    movies = np.empty((count, candidates), dtype=np.int64)
    for row, user in enumerate(users):
        watched = data.train_movies[starts[user] : starts[user + 1]]
        kept = rng.permutation(watched)[: candidates // 2]
        unseen = np.setdiff1d(np.arange(data.num_movies), [*watched, data.test_movies[user]])
        rest = rng.choice(unseen, size=candidates - len(kept), replace=False)
        movies[row] = rng.permutation(np.concatenate([kept, rest]))
    return users.astype(np.int64), movies
