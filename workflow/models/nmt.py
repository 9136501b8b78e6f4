"""sampleNMT's model in TensorFlow, as the TensorFlow NMT tutorial builds it with the seed's
settings (unidirectional LSTM encoder and decoder, Luong attention): source and target
embeddings, an LSTM encoder whose last state starts the decoder, a decoder LSTM fed with the
target embedding and the previous attention vector ("input feeding"), Luong's multiplicative
("general") score against the memory passed through the memory layer, the attention vector
``tanh(W_att [h; context])`` and a projection to the target vocabulary. The LSTM cell is
TensorFlow's BasicLSTMCell: one kernel over ``[x; h]``, gates in the order i, j (the cell
candidate), f, o, and a forget bias added when it runs.

The variables carry the tutorial's names (:data:`VARIABLES`, without its ``dynamic_seq2seq/``
scope) and are saved with ``tf.train.Checkpoint``: chpt_to_bin (workflow/models/nmt_bin.py)
reads them back by those names. Training: teacher forcing, masked cross-entropy, Adam, seeded,
deterministic ops.
"""

import logging
from typing import Any

import numpy as np

from workflow.logs import timed
from workflow.models.keras import import_tensorflow

log = logging.getLogger(__name__)

#: Variable names (checkpoint keys) and their shapes in units of (source vocabulary S, target
#: vocabulary T, units U).
VARIABLES = {
    "embeddings/encoder/embedding_encoder": ("S", "U"),
    "embeddings/decoder/embedding_decoder": ("T", "U"),
    "encoder/basic_lstm_cell/kernel": ("2U", "4U"),
    "encoder/basic_lstm_cell/bias": ("4U",),
    "decoder/attention/basic_lstm_cell/kernel": ("3U", "4U"),
    "decoder/attention/basic_lstm_cell/bias": ("4U",),
    "decoder/memory_layer/kernel": ("U", "U"),
    "decoder/attention/attention_layer/kernel": ("2U", "U"),
    "decoder/output_projection/kernel": ("U", "T"),
}


def variable_shapes(source_vocab: int, target_vocab: int, units: int) -> dict[str, tuple]:
    """:data:`VARIABLES` with the sizes filled in."""
    sizes = {"S": source_vocab, "T": target_vocab, "U": units}

    return {
        name: tuple(int(term[:-1] or 1) * sizes[term[-1]] for term in shape)
        for name, shape in VARIABLES.items()
    }


def pad(sequences: list[np.ndarray], *, length: int, fill: int) -> np.ndarray:
    """Sequences padded with ``fill`` to ``length`` (int32, (N, length))."""
    out = np.full((len(sequences), length), fill, np.int32)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = seq
    return out


class Seq2Seq:
    """The model's variables and its teacher-forced forward pass (TensorFlow)."""

    def __init__(
        self, source_vocab: int, target_vocab: int, *, units: int, forget_bias: float, seed: int
    ):
        self.tf = tf = import_tensorflow()
        self.units, self.forget_bias = units, forget_bias
        rng = np.random.default_rng(seed)
        self.variables: dict[str, Any] = {}
        for name, shape in variable_shapes(source_vocab, target_vocab, units).items():
            if name.endswith("bias"):
                value = np.zeros(shape, np.float32)
            else:  # uniform(-0.1, 0.1), the tutorial's init_op default
                value = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
            self.variables[name] = tf.Variable(value, name=name.replace("/", "."))

    def __getitem__(self, name: str) -> Any:
        return self.variables[name]

    def _cell(self, tf: Any, x: Any, h: Any, c: Any, prefix: str) -> tuple[Any, Any]:
        gates = tf.matmul(tf.concat([x, h], 1), self[prefix + "kernel"]) + self[prefix + "bias"]
        i, j, f, o = tf.split(gates, 4, axis=1)
        c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * tf.tanh(j)
        return tf.sigmoid(o) * tf.tanh(c), c

    def logits(self, src: Any, src_len: Any, tgt_in: Any) -> Any:
        """Teacher-forced logits (N, T, target vocabulary) of padded ``src`` (N, S) with lengths
        ``src_len`` and decoder inputs ``tgt_in`` (N, T) (``<s>`` then the target)."""
        tf = self.tf
        units = self.units
        batch = tf.shape(src)[0]
        x = tf.gather(self["embeddings/encoder/embedding_encoder"], src)
        h = c = tf.zeros((batch, units))
        outputs = []
        for step in range(src.shape[1]):
            h_new, c_new = self._cell(tf, x[:, step], h, c, "encoder/basic_lstm_cell/")
            live = (step < src_len)[:, None]
            h, c = tf.where(live, h_new, h), tf.where(live, c_new, c)
            outputs.append(h_new)
        mask = tf.sequence_mask(src_len, src.shape[1], dtype=tf.float32)
        memory = tf.stack(outputs, 1) * mask[..., None]
        keys = tf.einsum("nsu,uv->nsv", memory, self["decoder/memory_layer/kernel"])
        y = tf.gather(self["embeddings/decoder/embedding_decoder"], tgt_in)
        attention = tf.zeros((batch, units))
        logits = []
        for step in range(tgt_in.shape[1]):
            cell_in = tf.concat([y[:, step], attention], 1)
            h, c = self._cell(tf, cell_in, h, c, "decoder/attention/basic_lstm_cell/")
            score = tf.einsum("nu,nsu->ns", h, keys) + (1.0 - mask) * -1e9
            context = tf.einsum("ns,nsu->nu", tf.nn.softmax(score, axis=1), memory)
            attention = tf.tanh(
                tf.matmul(
                    tf.concat([h, context], 1), self["decoder/attention/attention_layer/kernel"]
                )
            )
            logits.append(tf.matmul(attention, self["decoder/output_projection/kernel"]))
        return tf.stack(logits, 1)

    def checkpoint(self) -> Any:
        """A ``tf.train.Checkpoint`` whose keys are the variables' names."""
        return self.tf.train.Checkpoint(**self.variables)


def checkpoint_key(name: str) -> str:
    """The key of variable ``name`` in a checkpoint written by :meth:`Seq2Seq.checkpoint`
    (TensorFlow escapes ``/`` in an attribute name as ``.S`` and ``.`` as ``..``)."""
    return name.replace(".", "..").replace("/", ".S") + "/.ATTRIBUTES/VARIABLE_VALUE"


def train_nmt(
    source: list[np.ndarray],
    target: list[np.ndarray],
    *,
    source_vocab: int,
    target_vocab: int,
    sos: int,
    eos: int,
    units: int,
    forget_bias: float,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    threads: int,
) -> Seq2Seq:
    """Train on the pairs with teacher forcing (decoder input ``<s> y``, target ``y </s>``),
    masked cross-entropy and Adam; batches shuffled by a seeded generator, ops deterministic."""
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    model = Seq2Seq(source_vocab, target_vocab, units=units, forget_bias=forget_bias, seed=seed)
    src_len = np.array([len(s) for s in source], np.int32)
    src = pad(source, length=int(src_len.max()), fill=eos)
    length = max(len(t) for t in target) + 1
    tgt_in = pad([np.concatenate([[sos], t]) for t in target], length=length, fill=eos)
    tgt_out = pad([np.concatenate([t, [eos]]) for t in target], length=length, fill=eos)
    tgt_mask = np.arange(length)[None] <= np.array([len(t) for t in target])[:, None]
    tgt_mask = tgt_mask.astype(np.float32)
    weights = list(model.variables.values())
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function(reduce_retracing=True)
    def step(s: Any, sl: Any, ti: Any, to: Any, tm: Any) -> Any:
        with tf.GradientTape() as tape:
            logits = model.logits(s, sl, ti)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=to, logits=logits)
            loss = tf.reduce_sum(losses * tm) / tf.reduce_sum(tm)
        grads = tape.gradient(loss, weights)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)  # the tutorial's max_gradient_norm
        optimizer.apply_gradients(zip(grads, weights, strict=True))
        return loss

    rng = np.random.default_rng(seed)
    count = len(source)
    with timed(log, f"train nmt | {count} pairs, {epochs} epochs of batch {batch_size}"):
        for epoch in range(1, epochs + 1):
            order = rng.permutation(count)
            total = 0.0
            for start in range(0, count - batch_size + 1, batch_size):
                pick = order[start : start + batch_size]
                loss = step(src[pick], src_len[pick], tgt_in[pick], tgt_out[pick], tgt_mask[pick])
                total += float(loss) * len(pick)
            log.info("train nmt | epoch %d loss %.4f", epoch, total / (count - count % batch_size))
    return model


def restore(
    prefix: str, *, source_vocab: int, target_vocab: int, units: int, forget_bias: float
) -> Seq2Seq:
    """The model of sizes given, its variables read from the checkpoint at ``prefix``."""
    model = Seq2Seq(source_vocab, target_vocab, units=units, forget_bias=forget_bias, seed=0)
    model.checkpoint().read(prefix).assert_existing_objects_matched()
    return model


def teacher_forced_logprobs(
    model: Seq2Seq, source: np.ndarray, target: np.ndarray, *, sos: int
) -> np.ndarray:
    """Log-probabilities (N, len(target) + 1, vocabulary) TensorFlow gives each next token of
    ``target`` (N, T) after ``source`` (N, S) (sentences of one length, no padding)."""
    tf = model.tf
    inputs = np.concatenate([np.full((len(target), 1), sos, np.int32), target], 1).astype(np.int32)
    lengths = np.full(len(source), source.shape[1], np.int32)
    logits = model.logits(
        tf.constant(source.astype(np.int32)), tf.constant(lengths), tf.constant(inputs)
    )
    return np.asarray(tf.nn.log_softmax(logits, axis=-1))
