"""NeuMF (He et al., "Neural Collaborative Filtering", 2017) in PyTorch: the MovieLens sample.

Two towers share the query: GMF (the element-wise product of a user and a movie embedding) and
an MLP over the concatenation of two other embeddings (the seed's MLP stack, ReLU between
layers); their outputs are concatenated and projected to one logit per (user, movie), and a
sigmoid gives the probability that the user watches the movie. A query is a user id and a list
of movie ids, as in sampleMovieLens: the graph's inputs are ``user`` (N,) and ``movies``
(N, K), int64; its output ``scores`` (N, K) are probabilities.

Trained seeded and deterministic on implicit feedback: each epoch pairs every training
interaction with ``negatives`` movies the user never interacted with (sampled again each
epoch), binary cross-entropy, Adam. PyTorch rather than TensorFlow because it is in the default
install (TensorFlow is the ``tf`` extra) and its determinism settings are already the
pipeline's (``models/train.py``); the graph the engine is built from is ONNX either way.
"""

import logging
from typing import TYPE_CHECKING

import numpy as np

from workflow.data.movielens import Interactions
from workflow.errors import PipelineError
from workflow.logs import timed

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

INPUT_NAMES = ("user", "movies")
OUTPUT_NAME = "scores"


def neumf(num_users: int, num_movies: int, *, factors: int, layers: list[int]) -> "torch.nn.Module":
    """A NeuMF model: GMF of ``factors`` dimensions, an MLP of ``layers`` (the first is the
    width of the concatenated embeddings, so each embedding has half of it)."""
    import torch
    from torch import nn

    if len(layers) < 2 or layers[0] % 2:
        raise PipelineError(
            f"train.ncf.layers={layers}", "need at least two layers and an even first width"
        )

    class NeuMF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gmf_user = nn.Embedding(num_users, factors)
            self.gmf_movie = nn.Embedding(num_movies, factors)
            self.mlp_user = nn.Embedding(num_users, layers[0] // 2)
            self.mlp_movie = nn.Embedding(num_movies, layers[0] // 2)
            stack: list[nn.Module] = []
            for width_in, width_out in zip(layers, layers[1:], strict=False):
                stack += [nn.Linear(width_in, width_out), nn.ReLU()]
            self.mlp = nn.Sequential(*stack)
            self.predict = nn.Linear(factors + layers[-1], 1)
            for embedding in (self.gmf_user, self.gmf_movie, self.mlp_user, self.mlp_movie):
                nn.init.normal_(embedding.weight, std=0.01)

        def forward(self, user: "torch.Tensor", movies: "torch.Tensor") -> "torch.Tensor":
            count = movies.shape[1]
            gmf = self.gmf_user(user).unsqueeze(1).expand(-1, count, -1) * self.gmf_movie(movies)
            mlp_user = self.mlp_user(user).unsqueeze(1).expand(-1, count, -1)
            mlp = self.mlp(torch.cat([mlp_user, self.mlp_movie(movies)], dim=-1))
            return torch.sigmoid(self.predict(torch.cat([gmf, mlp], dim=-1))).squeeze(-1)

    return NeuMF()


def sample_negatives(
    users: np.ndarray, seen: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` movies per entry of ``users`` that the user never interacted with (uniform,
    redrawn until unseen); ``seen`` is the (users, movies) interaction mask."""
    movies = rng.integers(0, seen.shape[1], size=(len(users), count))
    clash = seen[users[:, None], movies]
    while clash.any():
        movies[clash] = rng.integers(0, seen.shape[1], size=int(clash.sum()))
        clash = seen[users[:, None], movies]
    return movies


def train_ncf(
    data: Interactions,
    *,
    factors: int,
    layers: list[int],
    negatives: int,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    threads: int,
) -> "torch.nn.Module":
    """Train NeuMF on the training interactions (see the module docstring).

    Raises:
        PipelineError: the loss became NaN or infinite (learning rate too high).
    """
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    model = neumf(data.num_users, data.num_movies, factors=factors, layers=layers)
    rng = np.random.default_rng(seed)
    seen = np.zeros((data.num_users, data.num_movies), dtype=bool)
    seen[data.train_users, data.train_movies] = True
    seen[np.arange(data.num_users), data.test_movies] = True  # never a negative in training
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCELoss()
    users = torch.from_numpy(data.train_users)
    positives = torch.from_numpy(data.train_movies)
    model.train()
    with timed(log, f"train ncf | {len(users)} interactions, {epochs} epochs"):
        for epoch in range(epochs):
            drawn = torch.from_numpy(sample_negatives(data.train_users, seen, negatives, rng))
            movies = torch.cat([positives[:, None], drawn], dim=1)
            labels = torch.zeros(movies.shape, dtype=torch.float32)
            labels[:, 0] = 1.0
            order = torch.from_numpy(rng.permutation(len(users)))
            total = 0.0
            for start in range(0, len(users), batch_size):
                idx = order[start : start + batch_size]
                loss = loss_fn(model(users[idx], movies[idx]), labels[idx])
                if not torch.isfinite(loss):
                    raise PipelineError(
                        f"train ncf epoch {epoch + 1}", f"loss is {loss.item()}", "lower the rate"
                    )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            log.info("train ncf | epoch %d/%d loss %.4f", epoch + 1, epochs, total / len(users))
    return model.eval()


def predict_scores(
    model: "torch.nn.Module", users: np.ndarray, movies: np.ndarray, *, batch_size: int
) -> np.ndarray:
    """The model's probabilities (N, K) for queries (users (N,), movies (N, K))."""
    import torch

    out = []
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            part = slice(start, start + batch_size)
            out.append(model(torch.from_numpy(users[part]), torch.from_numpy(movies[part])).numpy())
    return np.concatenate(out).astype(np.float32)
