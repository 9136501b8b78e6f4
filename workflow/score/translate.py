"""Translating with the two graphs of sampleNMT and scoring it: beam search on the host around
the decoder-step graph (workflow/netdef/nmt.py), BLEU with sacrebleu, and the seed's three
``--data_writer`` outputs (``text``: the translations; ``bleu``: the score; ``benchmark``: the
speed).

An ``encoder`` takes ``source`` int32 (batch, length) and returns ``memory``, ``keys``, ``h``,
``c``; a ``decoder`` takes the decoder graph's inputs and returns its outputs: anything that
runs the graphs (ONNX Runtime, TensorRT engines, the numpy run of the description).
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from workflow.data.translation import EOS, SOS, detokenize, encode, read_parallel, read_vocab
from workflow.errors import PipelineError
from workflow.netdef.nmt import DEAD, Nmt, decode_numpy, encode_numpy

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class BeamOptions:
    """The seed's options: ``beam`` (1 = greedy), ``batch`` (sentences per call),
    ``max_input_length`` (longer sources are cut), ``max_output_length`` (negative: twice the
    source length, the NMT tutorial's decoding length factor), ``max_samples`` (negative: all),
    and GNMT's ``length_penalty`` weight (0: plain log-probability)."""

    beam: int = 5
    batch: int = 128
    max_input_length: int = 150
    max_output_length: int = -1
    max_samples: int = -1
    length_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.beam < 1 or self.batch < 1 or self.max_input_length < 1:
            raise PipelineError("score.translate", f"{self}", "beam, batch and lengths >= 1")

    def output_limit(self, source_length: int) -> int:
        """The longest translation of a source of ``source_length`` tokens."""
        return self.max_output_length if self.max_output_length >= 0 else 2 * source_length

    @classmethod
    def from_params(cls, params: dict) -> "BeamOptions":
        return cls(**{k: params[k] for k in cls.__dataclass_fields__ if k in params})


def _penalty(length: np.ndarray, weight: float) -> np.ndarray:
    return ((5.0 + length) / 6.0) ** weight


def _search(
    encoder: Run, decoder: Run, source: np.ndarray, *, options: BeamOptions, sos: int, eos: int
) -> tuple[list[list[int]], int]:
    """Beam search of sentences of one length; returns the best hypothesis of each (tokens
    before ``</s>``) and the number of decoder calls."""
    batch, length = source.shape
    beam = options.beam
    encoded = encoder({"source": source})
    rows = np.repeat(np.arange(batch), beam)
    memory, keys = encoded["memory"][rows], encoded["keys"][rows]
    h, c = encoded["h"][rows], encoded["c"][rows]
    attention = np.zeros_like(h)
    token = np.full(batch * beam, sos, np.int32)
    scores = np.full((batch, beam), DEAD, np.float32)
    scores[:, 0] = 0  # the beams start as one hypothesis
    finished = np.zeros((batch, beam), np.float32)
    history = np.zeros((batch * beam, 0), np.int32)
    limit = options.output_limit(length)
    steps = 0
    for _ in range(max(limit, 1)):
        out = decoder(
            {
                "token": token,
                "h": h,
                "c": c,
                "attention": attention,
                "keys": keys,
                "memory": memory,
                "scores": scores,
                "finished": finished,
            }
        )
        steps += 1
        index = np.asarray(out["beam_index"]).astype(np.int64)
        vocab = out["logprobs"].shape[1]
        parent = (np.arange(batch)[:, None] * beam + index // vocab).reshape(-1)
        token = (index % vocab).astype(np.int32).reshape(-1)
        h, c = out["h_out"][parent], out["c_out"][parent]
        attention = out["attention_out"][parent]
        history = np.concatenate([history[parent], token[:, None]], 1)
        finished = np.maximum(finished.reshape(-1)[parent], token == eos).reshape(batch, beam)
        finished = finished.astype(np.float32)
        scores = np.asarray(out["beam_scores"], np.float32)
        if finished.all():
            break
    best = []
    ended = history == eos
    lengths = np.where(ended.any(1), ended.argmax(1) + 1, history.shape[1])
    normed = scores.reshape(-1) / _penalty(lengths.astype(np.float64), options.length_penalty)
    for sentence in range(batch):
        pick = sentence * beam + int(np.argmax(normed[sentence * beam : (sentence + 1) * beam]))
        tokens = history[pick].tolist()
        best.append(tokens[: tokens.index(eos)] if eos in tokens else tokens)
    return best, steps


def translate(
    encoder: Run,
    decoder: Run,
    sources: list[np.ndarray],
    *,
    options: BeamOptions,
    sos: int,
    eos: int,
) -> tuple[list[list[int]], dict[str, float]]:
    """Translate token-id sentences: grouped by length (no padding: every sentence of a call
    has the same length), at most ``options.batch`` per call; returns the best hypothesis of
    each and timings (seconds, decoder calls, sentences and tokens per second)."""
    if options.max_samples >= 0:
        sources = sources[: options.max_samples]
    cut = [np.asarray(s[: options.max_input_length], np.int32) for s in sources]
    if any(len(s) == 0 for s in cut):
        raise PipelineError("translate", "an empty source sentence", "remove empty lines")
    results: list[list[int]] = [[] for _ in cut]
    calls = 0
    start = time.perf_counter()
    for length in sorted({len(s) for s in cut}):
        members = [i for i, s in enumerate(cut) if len(s) == length]
        for first in range(0, len(members), options.batch):
            chunk = members[first : first + options.batch]
            best, steps = _search(
                encoder,
                decoder,
                np.stack([cut[i] for i in chunk]),
                options=options,
                sos=sos,
                eos=eos,
            )
            calls += steps
            for i, tokens in zip(chunk, best, strict=True):
                results[i] = tokens
    seconds = time.perf_counter() - start
    produced = sum(len(r) for r in results)
    timing = {
        "seconds": seconds,
        "decoder_calls": calls,
        "sentences_per_s": len(cut) / seconds if seconds else 0.0,
        "tokens_per_s": produced / seconds if seconds else 0.0,
    }
    return results, timing


def bleu(hypotheses: list[str], references: list[str]) -> dict[str, float | str]:
    """Corpus BLEU of detokenized sentences with sacrebleu's defaults (13a tokenizer)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise PipelineError(
            "bleu", f"{len(hypotheses)} hypotheses for {len(references)} references"
        )
    metric = sacrebleu.metrics.BLEU()
    score = metric.corpus_score(hypotheses, [references])
    return {
        "bleu": score.score,
        "precisions": [float(p) for p in score.precisions],
        "brevity_penalty": score.bp,
        "signature": str(metric.get_signature()),
        "exact": sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(references),
    }


def sentences(ids: list[list[int]], vocab: list[str]) -> list[str]:
    """Detokenized sentences of token ids."""
    return [detokenize([vocab[i] for i in s]) for s in ids]


def framework_parity(
    logprobs_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    encoder: Run,
    decoder: Run,
    sources: list[np.ndarray],
    *,
    sos: int,
    eos: int,
) -> dict[str, float | int | bool]:
    """Check the graphs against the framework: translate ``sources`` greedily with the graphs,
    then give each translation (and its ``</s>``) to ``logprobs_of(source, target)`` (the
    framework's teacher-forced log-probabilities, (N, T + 1, vocabulary)) and compare: the
    largest difference of the probabilities (and of the log-probabilities, which grow for
    unlikely tokens) along the graphs' path, and whether the framework's
    most likely token is the graphs' at every step (then its own greedy translation is the
    same, step by step)."""
    greedy = BeamOptions(beam=1)
    found, _ = translate(encoder, decoder, sources, options=greedy, sos=sos, eos=eos)
    max_abs, max_log, same, steps = 0.0, 0.0, True, 0
    for source, tokens in zip(sources, found, strict=True):
        expected = logprobs_of(
            np.asarray(source, np.int32)[None], np.asarray(tokens, np.int32)[None]
        )[0]
        ended = len(tokens) < greedy.output_limit(len(source))  # else cut there, no </s>
        path = [sos, *tokens] if ended else [sos, *tokens[:-1]]
        encoded = encoder({"source": np.asarray(source, np.int32)[None]})
        h, c = encoded["h"], encoded["c"]
        attention = np.zeros_like(h)
        for step, token in enumerate(path):
            out = decoder(
                {
                    "token": np.array([token], np.int32),
                    "h": h,
                    "c": c,
                    "attention": attention,
                    "keys": encoded["keys"],
                    "memory": encoded["memory"],
                    "scores": np.zeros((1, 1), np.float32),
                    "finished": np.zeros((1, 1), np.float32),
                }
            )
            h, c, attention = out["h_out"], out["c_out"], out["attention_out"]
            got, want = out["logprobs"][0], expected[step]
            max_abs = max(max_abs, float(np.abs(np.exp(got) - np.exp(want)).max()))
            max_log = max(max_log, float(np.abs(got - want).max()))
            chosen = tokens[step] if step < len(tokens) else eos
            same &= int(np.argmax(expected[step])) == chosen
            steps += 1
    return {
        "sentences": len(sources),
        "steps": steps,
        "max_abs_diff": max_abs,
        "max_abs_logprob_diff": max_log,
        "greedy_identical": bool(same),
    }


def _corpus(folder: str | Path, langs: list[str]) -> dict:
    src_lang, tgt_lang = langs
    folder = Path(folder)
    vocab = {lang: read_vocab(folder / f"vocab.{lang}") for lang in langs}
    sources, targets = read_parallel(folder, "test", source=src_lang, target=tgt_lang)
    return {
        "sources": encode(sources, vocab[src_lang]),
        "source_text": [detokenize(s) for s in sources],
        "references": [detokenize(t) for t in targets],
        "vocab": vocab[tgt_lang],
        "sos": vocab[tgt_lang].index(SOS),
        "eos": vocab[tgt_lang].index(EOS),
    }


def numpy_graphs(net: Nmt, *, folder: str | Path, langs: list[str], dtype: str) -> tuple[Run, Run]:
    """The two graphs run by numpy from the description in ``dtype``."""
    eos = read_vocab(Path(folder) / f"vocab.{langs[1]}").index(EOS)
    return (
        lambda feeds: encode_numpy(net, feeds["source"], dtype=dtype),
        lambda feeds: decode_numpy(net, feeds, eos=eos, dtype=dtype),
    )


def corpus_report(
    encoder: Run, decoder: Run, *, folder: str | Path, langs: list[str], options: BeamOptions
) -> tuple[dict, str, dict]:
    """Translate the test split of the data ``folder`` with ``options`` and greedily; return
    the BLEU report (the beam's, with greedy's beside it), the translations as text (source,
    reference and translation per sentence, tab-separated) and the benchmark."""
    corpus = _corpus(folder, langs)
    found, timing = translate(
        encoder, decoder, corpus["sources"], options=options, sos=corpus["sos"], eos=corpus["eos"]
    )
    hypotheses = sentences(found, corpus["vocab"])
    references = corpus["references"][: len(hypotheses)]
    greedy, greedy_timing = translate(
        encoder,
        decoder,
        corpus["sources"],
        options=replace(options, beam=1),
        sos=corpus["sos"],
        eos=corpus["eos"],
    )
    report = bleu(hypotheses, references) | {
        "count": len(hypotheses),
        "beam": options.beam,
        "options": asdict(options),
        "greedy": bleu(sentences(greedy, corpus["vocab"]), references),
    }
    text = "".join(
        f"{s}\t{r}\t{h}\n"
        for s, r, h in zip(corpus["source_text"], references, hypotheses, strict=False)
    )
    benchmark = {"beam": timing | {"beam": options.beam}, "greedy": greedy_timing | {"beam": 1}}
    return report, text, benchmark
