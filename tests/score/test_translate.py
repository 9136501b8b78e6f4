"""Beam search on the host (hypotheses reordered by parent, finished ones kept, length limits,
the length penalty) and BLEU, with a decoder whose probabilities are a table."""

import numpy as np
import pytest

from workflow.errors import PipelineError
from workflow.score.translate import BeamOptions, bleu, translate

SOS, EOS, A, B, C = 1, 2, 3, 4, 5
V = 6
# next-token probabilities by previous token: greedy takes A (0.6) and then meets a flat
# 0.25 each (</s> first among the ties); B (0.4) leads to </s> surely: the best path
# SOS B EOS (p 0.4) beats SOS A EOS (0.15)
TABLE = np.full((V, V), 1e-9)
TABLE[SOS, [A, B]] = [0.6, 0.4]
TABLE[A, [A, B, C, EOS]] = 0.25
TABLE[B, EOS] = 1.0
TABLE[C, EOS] = 1.0
LOG = np.log(TABLE / TABLE.sum(1, keepdims=True)).astype(np.float32)


def encoder(feeds):
    n = feeds["source"].shape[0]
    zeros = np.zeros((n, 2), np.float32)
    return {"memory": zeros[:, None], "keys": zeros[:, None], "h": zeros, "c": zeros}


def decoder(feeds):
    """The decoder graph's contract (workflow/netdef/nmt.py) over the table; the state carries
    nothing, the token is all it needs."""
    logprobs = LOG[feeds["token"]]
    batch, beam = feeds["scores"].shape
    finished = feeds["finished"].reshape(-1, 1)
    only_eos = np.full(V, -1e4, np.float32)
    only_eos[EOS] = 0
    step = logprobs * (1 - finished) + finished * only_eos
    total = (step.reshape(batch, beam, V) + feeds["scores"][..., None]).reshape(batch, -1)
    index = np.argsort(-total, axis=1, kind="stable")[:, :beam]
    rows = feeds["h"]
    return {
        "h_out": rows,
        "c_out": rows,
        "attention_out": rows,
        "logprobs": logprobs,
        "beam_scores": np.take_along_axis(total, index, 1),
        "beam_index": index.astype(np.int32),
    }


SOURCES = [np.array([7, 8], np.int32), np.array([9, 9], np.int32), np.array([5], np.int32)]


def test_beam_finds_what_greedy_misses():
    greedy, _ = translate(encoder, decoder, SOURCES, options=BeamOptions(beam=1), sos=SOS, eos=EOS)
    beam, timing = translate(
        encoder, decoder, SOURCES, options=BeamOptions(beam=3), sos=SOS, eos=EOS
    )
    assert greedy == [[A], [A], [A]]  # A (0.6), then </s> among four ties: p 0.15
    assert beam == [[B], [B], [B]]
    assert timing["decoder_calls"] >= 2 and timing["sentences_per_s"] > 0


def test_length_limit_and_sample_limit():
    found, _ = translate(
        encoder,
        decoder,
        SOURCES,
        options=BeamOptions(beam=1, max_output_length=1),
        sos=SOS,
        eos=EOS,
    )
    assert found == [[A], [A], [A]]
    found, _ = translate(
        encoder, decoder, SOURCES, options=BeamOptions(max_samples=2), sos=SOS, eos=EOS
    )
    assert len(found) == 2


def test_length_penalty_favours_longer_hypotheses():
    """With a strong GNMT penalty a 3-token path (A B EOS, p 0.15) normalised beats B EOS."""
    plain, _ = translate(
        encoder, decoder, SOURCES[:1], options=BeamOptions(beam=4), sos=SOS, eos=EOS
    )
    long, _ = translate(
        encoder,
        decoder,
        SOURCES[:1],
        options=BeamOptions(beam=4, length_penalty=10.0),
        sos=SOS,
        eos=EOS,
    )
    assert plain == [[B]] and len(long[0]) > 1


def test_bad_options_and_inputs():
    with pytest.raises(PipelineError, match="beam"):
        BeamOptions(beam=0)
    with pytest.raises(PipelineError, match="empty source"):
        translate(
            encoder, decoder, [np.array([], np.int32)], options=BeamOptions(), sos=SOS, eos=EOS
        )


def test_bleu_report():
    report = bleu(["one hundred and two", "seven"], ["one hundred and two", "eight"])
    assert 0 < report["bleu"] < 100 and report["exact"] == 0.5
    assert bleu(["a b c d"], ["a b c d"])["bleu"] == pytest.approx(100)
    with pytest.raises(PipelineError, match="1 hypotheses for 2"):
        bleu(["x"], ["x", "y"])
