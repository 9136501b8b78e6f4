"""Greedy generation with the Keras character model (sampleCharRNN's demonstration: a seed
string, then one character at a time), the reference the engine graph's generation is held to.
"""

from typing import Any

import numpy as np

from workflow.models.keras import import_tensorflow


def keras_stepper(model: Any) -> Any:
    """The trained model with its LSTM states as inputs and outputs (the same weights):
    ``[tokens, h1, c1, h2, c2, ...] -> [logits, h1, c1, ...]``, so that a text is generated
    one character per call."""
    tf = import_tensorflow()
    keras = tf.keras
    embed = model.get_layer("embed")
    lstms = [layer for layer in model.layers if layer.name.startswith("lstm")]
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    states, outputs, copies = [], [], []
    x = keras.layers.Embedding(embed.input_dim, embed.output_dim, name="embed")(tokens)
    copies.append(("embed", x))
    for layer in lstms:
        h = keras.Input((layer.units,), name=f"{layer.name}_h")
        c = keras.Input((layer.units,), name=f"{layer.name}_c")
        step = keras.layers.LSTM(
            layer.units, return_sequences=True, return_state=True, name=layer.name
        )
        x, h_out, c_out = step(x, initial_state=[h, c])
        states += [h, c]
        outputs += [h_out, c_out]
    proj = model.get_layer("proj")
    logits = keras.layers.Dense(proj.units, name="proj")(x)
    stepper = keras.Model([tokens, *states], [logits, *outputs], name="charrnn_stepper")
    for layer in stepper.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return stepper


def keras_generate(model: Any, seed_ids: np.ndarray, count: int) -> np.ndarray:
    """Greedy generation with the Keras model (through :func:`keras_stepper`): the seed from
    zero states, then ``count`` times the most likely next character fed back, the states
    carried by Keras' own LSTM layers."""
    stepper = keras_stepper(model)
    units = [layer.units for layer in model.layers if layer.name.startswith("lstm")]
    states = [np.zeros((1, u), np.float32) for u in units for _ in ("h", "c")]
    tokens = np.asarray(seed_ids, np.int32)[None]
    generated = []
    for _ in range(count):
        logits, *states = (np.asarray(t) for t in stepper([tokens, *states], training=False))
        tokens = np.array([[int(np.argmax(logits[0, -1]))]], np.int32)
        generated.append(int(tokens[0, 0]))
    return np.asarray(generated, np.int32)
