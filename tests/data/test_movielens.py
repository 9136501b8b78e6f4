import io
import zipfile

import numpy as np
import pytest

from workflow.data.movielens import (
    calibration_queries,
    generate,
    leave_one_out,
    read_interactions,
    read_ml1m,
    write_interactions,
)
from workflow.errors import DataError, FormatError

SETTINGS = dict(users=60, movies=200, factors=4, interactions=(5, 20), popularity=1.0, seed=3)


def _split(**overrides):
    users, movies = generate(**(SETTINGS | overrides))
    return users, movies, leave_one_out(users, movies, num_movies=200, negatives=99, seed=1)


def test_generated_interactions_are_seeded_distinct_and_skewed():
    users, movies = generate(**SETTINGS)
    again = generate(**SETTINGS)
    assert np.array_equal(users, again[0]) and np.array_equal(movies, again[1])
    other = generate(**(SETTINGS | {"seed": 4}))
    assert not np.array_equal(movies[:50], other[1][:50])
    counts = np.bincount(users)
    assert len(counts) == 60 and counts.min() >= 5 and counts.max() <= 20
    for user in range(60):
        mine = movies[users == user]
        assert len(set(mine.tolist())) == len(mine)  # no movie twice for one user
    popular = np.sort(np.bincount(movies, minlength=200))[::-1]
    assert popular[:20].mean() > 10 * popular[-100:].mean()  # popularity skew
    flat = generate(**(SETTINGS | {"popularity": 0.0}))[1]
    assert np.sort(np.bincount(flat, minlength=200))[::-1][:20].sum() < popular[:20].sum()


def test_too_many_interactions_per_user_is_an_error():
    with pytest.raises(DataError, match="need 2 <= fewest <= most < movies"):
        generate(**(SETTINGS | {"interactions": (5, 200)}))


def test_leave_one_out_holds_out_each_users_latest_interaction():
    users, movies, data = _split()
    assert data.num_users == 60 and data.num_movies == 200
    last = np.cumsum(np.bincount(users)) - 1
    assert np.array_equal(data.test_movies, movies[last])
    assert len(data.train_users) == len(users) - 60
    for user in range(60):
        seen = set(movies[users == user].tolist())
        negatives = data.negatives[user]
        assert len(set(negatives.tolist())) == 99 and not seen & set(negatives.tolist())
    query_users, candidates = data.candidates()
    assert candidates.shape == (60, 100) and np.array_equal(candidates[:, -1], data.test_movies)
    assert np.array_equal(candidates[:, :-1], data.negatives)  # held out last: ties go against it
    assert np.array_equal(query_users, np.arange(60))
    assert data.popularity().sum() == len(data.train_users)


def test_leave_one_out_needs_two_interactions_per_user():
    with pytest.raises(DataError, match="< 2 interactions"):
        leave_one_out(np.array([0, 0, 1]), np.array([1, 2, 3]), num_movies=200, negatives=5, seed=0)


def test_written_interactions_read_back(tmp_path):
    _, _, data = _split()
    write_interactions(tmp_path / "ml", data)
    back = read_interactions(tmp_path / "ml")
    assert np.array_equal(back.negatives, data.negatives) and back.titles == data.titles
    (tmp_path / "ml" / "titles.txt").write_text("one\n")
    with pytest.raises(FormatError, match="do not match"):
        read_interactions(tmp_path / "ml")
    with pytest.raises(DataError, match="missing"):
        read_interactions(tmp_path / "nothing")


def _ml1m(ratings: str, movies: str = "10::Heat (1995)::Action\n20::Up (2009)::Family\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", ratings)
        zf.writestr("ml-1m/movies.dat", movies)
    return buffer.getvalue()


def test_movielens_1m_is_read_in_time_order_per_user():
    ratings = "2::20::5::300\n1::20::3::200\n1::10::4::100\n2::10::1::100\n2::30::2::200\n"
    users, movies, ids, titles = read_ml1m(_ml1m(ratings))
    assert users.tolist() == [0, 0, 1, 1, 1]
    assert ids.tolist() == [10, 20, 30]  # in order of first appearance (user 1, time 100 first)
    assert [ids[m] for m in movies] == [10, 20, 10, 30, 20]
    assert titles == ["Heat (1995)", "Up (2009)", "movie 30"]


def test_a_broken_movielens_archive_is_named():
    with pytest.raises(FormatError, match="line 2"):
        read_ml1m(_ml1m("1::10::4::100\n1::10::4\n"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("ml-1m/movies.dat", "")
    with pytest.raises(FormatError, match="ratings.dat"):
        read_ml1m(buffer.getvalue())


def test_calibration_queries_mix_training_and_unseen_movies():
    users, movies, data = _split()
    query_users, candidates = calibration_queries(data, count=30, candidates=100, seed=0)
    assert query_users.shape == (30,) and candidates.shape == (30, 100)
    for user, row in zip(query_users, candidates, strict=True):
        assert len(set(row.tolist())) == 100
        trained = set(data.train_movies[data.train_users == user].tolist())
        assert 0 < len(trained & set(row.tolist())) <= 50
        assert data.test_movies[user] not in set(row.tolist())  # the test stays unseen
