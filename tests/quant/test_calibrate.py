import numpy as np
import onnx
import pytest

from tests.conftest import tiny_conv_bytes, tiny_recommender_bytes
from tests.quant.reference_entropy import entropy_amax_counts, first_holding
from workflow.errors import PipelineError
from workflow.quant.batches import write_feed_folder
from workflow.quant.calibrate import (
    MIN_KEPT,
    ZERO_RANGE,
    batches_from_folder,
    calibrate,
    collect_amax,
    collect_histograms,
    entropy_amax,
    least_error_amax,
    percentile_amax,
    quantization_error,
    tensors_to_calibrate,
    with_all_outputs,
)

RNG = np.random.default_rng(0)
BATCHES = [RNG.normal(size=(8, 1, 4, 4)).astype(np.float32) for _ in range(4)]


def test_every_float_tensor_becomes_an_output():
    model, input_names, names = with_all_outputs(tiny_conv_bytes())
    assert input_names == ["input"]
    assert names == ["input", "conv", "relu", "flat", "logits", "prob"]
    outputs = [o.name for o in onnx.load_from_string(model).graph.output]
    assert sorted(outputs) == sorted(names[1:])


def test_only_the_named_tensors_become_outputs():
    model, input_names, names = with_all_outputs(tiny_conv_bytes(), ["relu", "input"])
    assert (input_names, names) == (["input"], ["input", "relu"])  # graph order
    outputs = [o.name for o in onnx.load_from_string(model).graph.output]
    assert sorted(outputs) == ["prob", "relu"]  # the graph's own output stays
    with pytest.raises(PipelineError, match="no float tensor named 'nope'"):
        with_all_outputs(tiny_conv_bytes(), ["relu", "nope"])


def test_quantized_scope_is_the_inputs_of_conv_and_gemm():
    assert tensors_to_calibrate(tiny_conv_bytes(), "quantized") == ["input", "flat"]
    assert tensors_to_calibrate(tiny_conv_bytes(), "all") is None
    with pytest.raises(PipelineError, match="choose among"):
        tensors_to_calibrate(tiny_conv_bytes(), "some")


def test_a_subset_gets_the_ranges_it_would_get_among_all():
    settings = dict(algorithm="entropy", bins=256, percentile=99.0, threads=1)
    every = calibrate(tiny_conv_bytes(), lambda: iter(BATCHES), **settings)
    tensors = tensors_to_calibrate(tiny_conv_bytes(), "quantized")
    some = calibrate(tiny_conv_bytes(), lambda: iter(BATCHES), tensors=tensors, **settings)
    assert some == {name: every[name] for name in tensors}
    assert calibrate(tiny_conv_bytes(), lambda: iter(BATCHES), workers=2, **settings) == every


def test_an_error_while_reading_ahead_reaches_the_caller():
    def batches():
        yield BATCHES[0]
        raise OSError("batch file 2 unreadable")

    with pytest.raises(OSError, match="unreadable"):
        calibrate(
            tiny_conv_bytes(), batches, algorithm="minmax", bins=256, percentile=99.0, threads=1
        )


def test_streaming_passes_and_results():
    calls = []

    def batches():
        calls.append(1)
        return iter(BATCHES)

    ranges = calibrate(
        tiny_conv_bytes(), batches, algorithm="minmax", bins=2048, percentile=99.0, threads=1
    )
    assert len(calls) == 1  # min-max needs one pass
    assert ranges["input"] == pytest.approx(max(float(np.abs(b).max()) for b in BATCHES))
    assert ranges["prob"] <= 1.0
    calls.clear()
    entropy = calibrate(
        tiny_conv_bytes(), batches, algorithm="entropy", bins=256, percentile=99.0, threads=1
    )
    assert len(calls) == 2  # ranges, then histograms
    assert list(entropy) == list(ranges)
    assert all(0 < entropy[name] <= ranges[name] * (1 + 1e-9) for name in ranges)


def test_same_data_same_ranges():
    runs = [
        calibrate(
            tiny_conv_bytes(),
            lambda: iter(BATCHES),
            algorithm="entropy",
            bins=512,
            percentile=99.0,
            threads=1,
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_histograms_count_every_value():
    stream = [{"t": np.array([0.0, 0.5, 1.0, -1.0, 0.26])}, {"t": np.array([-0.74])}]
    amax = collect_amax(stream)
    assert amax == {"t": 1.0}
    hist = collect_histograms(stream, amax, bins=4)["t"]
    assert hist.tolist() == [1, 1, 2, 2]  # 0 | .26 | .5 .74 | 1 1 (the top edge joins the last bin)


def test_zero_tensor_gets_a_positive_range():
    stream = [{"z": np.zeros(5)}]
    amax = collect_amax(stream)
    assert collect_histograms(stream, amax, bins=128)["z"][0] == 5
    ranges = calibrate(
        _zero_model(),
        lambda: iter([np.ones((2, 3), np.float32)]),
        algorithm="entropy",
        bins=128,
        percentile=99.0,
        threads=1,
    )
    assert ranges["zero"] == ZERO_RANGE


def _zero_model() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["input", "k"], ["zero"])],
        "zero",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("zero", TensorProto.FLOAT, ["n", 3])],
        initializer=[numpy_helper.from_array(np.zeros(3, np.float32), "k")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model.SerializeToString()


def test_entropy_clips_rare_outliers_but_not_a_uniform_range():
    values = np.abs(RNG.normal(size=200_000))
    values[:20] = 40.0  # a few far outliers
    hist, top = _histogram(values)
    clipped = entropy_amax(hist, top)
    assert clipped == pytest.approx(entropy_amax_counts(hist, top), rel=0.01)
    # the range keeps every value but the outliers and stays far below them
    assert float(values[20:].max()) < clipped < 0.25 * top
    uniform = np.full(2048, 100)
    assert entropy_amax(uniform, 8.0) == 8.0


def test_percentile():
    hist = np.full(100, 10)
    assert percentile_amax(hist, 1.0, 50.0) == pytest.approx(0.5)
    assert percentile_amax(hist, 1.0, 100.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("algorithm", "bins", "workers", "message"),
    [
        ("mse", 2048, 1, "choose among"),
        ("entropy", 64, 1, "need at least 128"),
        ("entropy", 2048, 0, "need at least 1"),
    ],
)
def test_bad_settings(algorithm, bins, workers, message):
    with pytest.raises(PipelineError, match=message):
        calibrate(
            tiny_conv_bytes(),
            lambda: iter(BATCHES),
            algorithm=algorithm,
            bins=bins,
            percentile=99.0,
            threads=1,
            workers=workers,
        )


def _histogram(values: np.ndarray, bins: int = 2048) -> tuple[np.ndarray, float]:
    top = float(values.max())
    return np.bincount(np.minimum((values * bins / top).astype(int), bins - 1), minlength=bins), top


def _shapes(rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """Histograms of the kinds calibration meets, and the corner cases of the search."""
    relu = np.maximum(rng.normal(size=100_000), 0)
    outliers = np.abs(rng.normal(size=50_000))
    outliers[:5] = 60.0
    shifted = np.concatenate([np.zeros(9000), rng.normal(4, 1, 12_000).clip(0.8, 6.4)])
    few = np.concatenate([np.zeros(50), rng.uniform(0, 3, 7)])
    spikes = np.zeros(2048, np.int64)
    spikes[[0, 1, 700, 2047]] = [5000, 3, 40, 1]
    first_only = np.zeros(2048, np.int64)
    first_only[:2] = [10, 4]
    return [
        _histogram(relu),
        _histogram(outliers),
        _histogram(shifted),
        _histogram(few),
        _histogram(rng.exponential(size=30_000) ** 3),
        _histogram(rng.uniform(0, 1, 500_000), bins=300),  # dense, bins not a multiple of 128
        (np.full(2048, 100), 8.0),
        (spikes, 3.0),
        (first_only, 1.0),
        (np.zeros(2048, np.int64), 0.0),
    ]


def _distributions(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """|x| of activations of known distributions, 200,000 values each."""
    size = 200_000
    return {
        "relu_normal": np.maximum(rng.normal(size=size), 0),
        "laplace": np.abs(rng.laplace(size=size)),
        "3_relu_laplace": 3 * np.maximum(rng.laplace(size=size), 0),
        # a normal bulk and 0.15% of values spread thinly up to 40
        "sparse_tail": np.concatenate(
            [np.abs(rng.normal(size=size - 300)), rng.uniform(5, 40, 300)]
        ),
    }


DISTRIBUTIONS = _distributions(np.random.default_rng(2))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_entropy_range_is_mxnets(name):
    """The range of the reference written from MXNet's search (its merging into levels, its
    smoothing of counts), to 1%."""
    hist, top = _histogram(DISTRIBUTIONS[name])
    assert entropy_amax(hist, top) == pytest.approx(entropy_amax_counts(hist, top), rel=0.01)


@pytest.mark.slow
def test_vectorised_search_chooses_the_thresholds_of_the_loop():
    for hist, top in _shapes(np.random.default_rng(1)):
        start = first_holding(hist, MIN_KEPT)
        assert entropy_amax(hist, top) == entropy_amax_counts(hist, top, start), hist.nonzero()


def test_entropy_skips_ranges_that_saturate_most_values():
    """A ReLU output whose non-zero values all lie far above zero: the divergence of a candidate
    holding one stray value is 0 (P and Q are the same single spike), which must not win."""
    rng = np.random.default_rng(0)
    values = np.concatenate([np.zeros(11000), [0.76], rng.normal(4, 1, 14600).clip(0.8, 6.4)])
    top = float(values.max())
    hist = np.histogram(values, bins=2048, range=(0, top))[0]
    # the published search, every candidate from 128 bins, takes that minimum
    assert entropy_amax_counts(hist, top) < 0.77
    amax = entropy_amax(hist, top)
    assert (values[values > 0] <= amax).mean() >= 0.5
    assert amax > 4


def _feeds(count: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [
        {"user": rng.integers(0, 6, size=8), "movies": rng.integers(0, 9, size=(8, 4))}
        for _ in range(count)
    ]


def test_a_graph_of_several_inputs_calibrates_from_feed_files(tmp_path):
    write_feed_folder(tmp_path / "batches", _feeds(3))
    batches = batches_from_folder(tmp_path / "batches")
    model = tiny_recommender_bytes()
    assert tensors_to_calibrate(model, "quantized") == ["gmf"]  # the MatMul's activation
    ranges = calibrate(
        model, batches, algorithm="minmax", bins=128, percentile=99.0, threads=1, workers=2
    )
    assert list(ranges) == ["u", "u1", "m", "gmf", "logit", "logits", "scores"]  # no int input
    assert 0 < ranges["scores"] <= 1.0
    with pytest.raises(PipelineError, match="one array per batch feeds only one"):
        calibrate(
            model,
            lambda: iter([np.zeros(8, np.int64)]),
            algorithm="minmax",
            bins=128,
            percentile=99.0,
            threads=1,
        )


def _int8_error(values: np.ndarray, threshold: float) -> float:
    """The summed squared error of numpy's symmetric INT8 round trip of ``values`` (|x|) with
    range ``threshold``."""
    step = threshold / 127
    rounded = np.clip(np.rint(values / step), -127, 127) * step
    return float(np.sum((values - rounded) ** 2))


def _least_error_cases(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """|x| of a uniform range, a Gaussian, a long-tailed (Laplace) one with rare far outliers,
    and a ReLU output."""
    outliers = np.abs(rng.laplace(size=100_000))
    outliers[:10] = 80.0
    return {
        "uniform": rng.uniform(0, 4, size=100_000),
        "gaussian": np.abs(rng.normal(size=100_000)),
        "outliers": outliers,
        "relu": np.maximum(rng.normal(size=100_000), 0),
    }


@pytest.mark.parametrize("name", ["uniform", "gaussian", "outliers", "relu"])
def test_quantization_error_is_numpys_round_trip_error(name):
    values = _least_error_cases(np.random.default_rng(1))[name]
    hist, top = _histogram(values)
    zeros = int(np.sum(values == 0))  # rounded exactly by numpy, counted as noise by the model
    for threshold in (top, 0.5 * top, 0.1 * top):
        measured = _int8_error(values, threshold) + zeros * (threshold / 127) ** 2 / 12
        assert quantization_error(hist, top, threshold) == pytest.approx(measured, rel=0.15)


@pytest.mark.parametrize("name", ["uniform", "gaussian", "outliers", "relu"])
def test_least_error_takes_the_range_numpy_rounds_best(name):
    values = _least_error_cases(np.random.default_rng(2))[name]
    hist, top = _histogram(values)
    ranges = {
        "minmax": top,
        "percentile": percentile_amax(hist, top, 99.99),
        "entropy": entropy_amax(hist, top),
    }
    which, chosen = least_error_amax(hist, top, ranges)
    assert chosen == ranges[which]
    errors = {k: _int8_error(values, v) for k, v in ranges.items()}
    assert errors[which] <= 1.05 * min(errors.values())
    if name == "uniform":  # nothing to clip: the whole range
        assert chosen == pytest.approx(top, rel=0.01)


def test_least_error_calibration_takes_one_of_the_three_ranges_per_tensor():
    found = {
        algorithm: calibrate(
            tiny_conv_bytes(),
            lambda: iter(BATCHES),
            algorithm=algorithm,
            bins=512,
            percentile=99.0,
            threads=1,
        )
        for algorithm in ("minmax", "percentile", "entropy", "least_error")
    }
    assert found["least_error"].keys() == found["minmax"].keys()
    for name, value in found["least_error"].items():
        assert value in {found[a][name] for a in ("minmax", "percentile", "entropy")}
