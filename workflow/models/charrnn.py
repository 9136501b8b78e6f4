"""sampleCharRNN's model in Keras: an embedding, stacked LSTM layers and a dense projection to
the next character's logits; seeded, deterministic training on windows of the text (greedy
generation with it: workflow/models/charrnn_generate.py, so that a change there does not
retrain).
"""

import logging
from typing import Any

import numpy as np

from workflow.data.text import windows
from workflow.logs import timed
from workflow.models.keras import import_tensorflow

log = logging.getLogger(__name__)


def keras_charrnn(vocab: int, *, embed: int, hidden: int, layers: int) -> Any:
    """The character model: ``tokens`` int32 (N, T) -> logits (N, T, vocab); layers named
    ``embed``, ``lstm1`` ... ``lstm<layers>``, ``proj`` (the names its dumped weights carry)."""
    tf = import_tensorflow()
    keras = tf.keras
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, embed, name="embed")(tokens)
    for index in range(1, layers + 1):
        x = keras.layers.LSTM(hidden, return_sequences=True, name=f"lstm{index}")(x)
    return keras.Model(tokens, keras.layers.Dense(vocab, name="proj")(x), name="charrnn")


def train_charrnn(
    ids: np.ndarray,
    vocab: int,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    seq_length: int,
    learning_rate: float,
    embed: int,
    hidden: int,
    layers: int,
    threads: int,
) -> Any:
    """Train on non-overlapping windows of ``seq_length`` characters (each from a zero state)
    with Adam and cross-entropy on the next character, seeded and with deterministic ops."""
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    inputs, targets = windows(ids, seq_length)
    model = keras_charrnn(vocab, embed=embed, hidden=hidden, layers=layers)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    with timed(log, f"train charrnn | {len(inputs)} windows of {seq_length}, {epochs} epochs"):
        history = model.fit(
            inputs, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0
        )
    for epoch, (loss, accuracy) in enumerate(
        zip(history.history["loss"], history.history["accuracy"], strict=True), start=1
    ):
        log.info("train charrnn | epoch %d loss %.4f accuracy %.4f", epoch, loss, accuracy)
    return model
