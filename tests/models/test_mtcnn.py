"""MTCNN's pretrained P-Net, R-Net and O-Net: the weights from the facenet-pytorch wheel load
strictly into our networks, which compute what facenet-pytorch's own model code computes,
export to ONNX (P-Net with a dynamic height and width), behave like a face detector on an
empty grey image, and go through FP16, INT8 and TensorRT-RTX engine builds.

The wheel is downloaded once into ``resources/mtcnn/`` (git-ignored); without a reachable
package index the tests skip."""

import sys
import time

import numpy as np
import onnx
import pytest

from tests.conftest import ROOT, schema_default, tiny_build
from workflow.errors import DataError
from workflow.models import mtcnn
from workflow.ort.loader import session_from_onnx

CACHE = ROOT / "resources" / "mtcnn"
OPSET = schema_default("onnx", "opset")
#: P-Net's height and width range in the tests' exports and engine profiles.
PNET_PROFILE = [12, 48, 128]
#: Lowest cosine of any output with FP32's on generated crops (ONNX Runtime), per precision.
FLOOR = {"fp32": 0.999999, "fp16": 0.9999, "int8": 0.97}
#: Parameter shapes of the networks as the paper's tables give them (out, in, kh, kw).
SHAPES = {
    "pnet": {"conv1": (10, 3, 3, 3), "conv2": (16, 10, 3, 3), "conv3": (32, 16, 3, 3),
             "conv4_1": (2, 32, 1, 1), "conv4_2": (4, 32, 1, 1)},
    "rnet": {"conv1": (28, 3, 3, 3), "conv2": (48, 28, 3, 3), "conv3": (64, 48, 2, 2),
             "dense4": (128, 576), "dense5_1": (2, 128), "dense5_2": (4, 128)},
    "onet": {"conv1": (32, 3, 3, 3), "conv2": (64, 32, 3, 3), "conv3": (64, 64, 3, 3),
             "conv4": (128, 64, 2, 2), "dense5": (256, 1152), "dense6_1": (2, 256),
             "dense6_2": (4, 256), "dense6_3": (10, 256)},
}  # fmt: skip


@pytest.fixture(scope="session")
def wheel():
    try:
        return mtcnn.fetch_wheel(CACHE, timeout_s=120)
    except DataError as err:
        if "download" not in err.problem:
            raise
        pytest.skip(f"the facenet-pytorch wheel could not be fetched: {err}")


@pytest.fixture(scope="session")
def state_dicts(wheel):
    return mtcnn.state_dicts_from_wheel(wheel)


@pytest.fixture(scope="session")
def nets(state_dicts):
    return {name: mtcnn.mtcnn_net(name, state_dicts[name]) for name in mtcnn.NETWORKS}


@pytest.fixture(scope="session")
def graphs(nets):
    return {
        name: mtcnn.onnx_from_mtcnn(nets[name], name, opset=OPSET, max_side=PNET_PROFILE[2])
        for name in mtcnn.NETWORKS
    }


def _inputs(name: str, seed: int) -> list[np.ndarray]:
    """Normalised inputs of generated images: P-Net whole images of several sizes, R-Net and
    O-Net random crops at their input side."""
    side = mtcnn.INPUT_SIDE[name]
    shapes = [(2, 12, 12), (2, 37, 53), (2, 96, 128)] if side is None else [(16, side, side)] * 3
    return [feed[mtcnn.INPUT_NAME] for feed in mtcnn.mtcnn_feeds(name, shapes, seed=seed)]


def _facenet_reference(wheel):
    """facenet-pytorch's own PNet, RNet and ONet classes, read from the wheel's
    ``facenet_pytorch/models/mtcnn.py`` (only its face-detection helpers, which need
    torchvision, are left out)."""
    import zipfile

    import torch
    from torch import nn

    source = zipfile.ZipFile(wheel).read("facenet_pytorch/models/mtcnn.py").decode()
    source = source.replace("from .utils.detect_face import detect_face, extract_face", "")
    namespace = {"torch": torch, "nn": nn, "__name__": "facenet_reference"}
    exec(compile(source, "facenet_pytorch/models/mtcnn.py", "exec"), namespace)  # noqa: S102
    return {"pnet": namespace["PNet"], "rnet": namespace["RNet"], "onet": namespace["ONet"]}


def _expected_shapes(layers: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape: weight and bias per layer, a PReLU slope per channel after
    every numbered conv or dense layer (not after the heads, ``conv4_1`` ...)."""
    shapes = {}
    for layer, shape in layers.items():
        shapes |= {f"{layer}.weight": shape, f"{layer}.bias": shape[:1]}
        if "_" not in layer:
            shapes[f"prelu{layer.removeprefix('conv').removeprefix('dense')}.weight"] = shape[:1]
    return shapes


def test_the_wheel_and_its_state_dicts_fit_the_published_networks(wheel, state_dicts):
    assert wheel.name == mtcnn.WHEEL_FILE
    for name, layers in SHAPES.items():
        weights = state_dicts[name]
        assert {k: tuple(v.shape) for k, v in weights.items()} == _expected_shapes(layers)
        net = mtcnn.mtcnn_net(name, weights)  # strict load: every key and shape fits
        assert sum(p.numel() for p in net.parameters()) == sum(v.numel() for v in weights.values())


def test_our_networks_compute_what_facenet_pytorchs_code_computes(wheel, nets, state_dicts):
    import torch

    reference = _facenet_reference(wheel)
    for name in mtcnn.NETWORKS:
        theirs = reference[name](pretrained=False)
        theirs.load_state_dict(state_dicts[name])
        theirs.eval()
        for x in _inputs(name, seed=3):
            with torch.no_grad():
                ours = [o.numpy() for o in nets[name](torch.from_numpy(x))]
                expected = [o.numpy() for o in theirs(torch.from_numpy(x))]
            # facenet-pytorch returns (box, [landmarks,] probability)
            expected = [expected[-1], *expected[:-1]]
            for got, want in zip(ours, expected, strict=True):
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_onnx_graphs_match_torch_and_see_no_face_in_grey(nets, graphs):
    import torch

    for name, graph in graphs.items():
        model = onnx.load_from_string(graph)
        assert [o.name for o in model.graph.output] == list(mtcnn.OUTPUTS[name])
        dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        side = mtcnn.INPUT_SIDE[name]
        assert dims == ["batch", 3, *((side, side) if side else mtcnn.PNET_DIMS)]
        session = session_from_onnx(graph)
        for x in _inputs(name, seed=5):
            with torch.no_grad():
                expected = [o.numpy() for o in nets[name](torch.from_numpy(x))]
            got = session.run(None, {mtcnn.INPUT_NAME: x})
            for out, want in zip(got, expected, strict=True):
                assert out.shape == want.shape
                assert np.abs(out - want).max() < 1e-4
            probability = got[0]
            np.testing.assert_allclose(probability.sum(axis=1), 1.0, atol=1e-5)
    grey = mtcnn.normalize(np.full((1, 3, 100, 120), 127.5, np.float32))
    probability, box = session_from_onnx(graphs["pnet"]).run(None, {mtcnn.INPUT_NAME: grey})
    assert probability.shape == box.shape[:1] + (2, 45, 55)  # (100-2)/2 ceil -> 49, then -4
    assert probability[:, 1].max() < 0.5


def test_a_wrong_or_missing_wheel_names_the_file_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / mtcnn.WHEEL_FILE).write_bytes(b"not the wheel")
    with pytest.raises(DataError, match=r"sha256 .* is not that of facenet-pytorch==2\.6\.0"):
        mtcnn.fetch_wheel(tmp_path)
    with pytest.raises(DataError, match="by hand"):
        mtcnn.fetch_wheel(tmp_path)
    failing = (sys.executable, "-c", "import sys; print('no index'); sys.exit(3)", "-d")
    monkeypatch.setattr(mtcnn, "FETCH_COMMAND", failing)
    empty = tmp_path / "empty"
    with pytest.raises(DataError, match=r"download of .* failed \(exit 3\): no index.*by hand"):
        mtcnn.fetch_wheel(empty)
    with pytest.raises(DataError, match="unknown"):
        mtcnn.mtcnn_net("qnet")


def _agreement(fp32: bytes, other: bytes, feeds: list[np.ndarray]) -> dict[str, dict]:
    """Per output: cosine and max abs error of ``other`` vs ``fp32`` over all feeds (numpy)."""
    ref, got = session_from_onnx(fp32), session_from_onnx(other)
    result = {}
    outputs = [o.name for o in ref.get_outputs()]
    pairs = [(ref.run(None, {"image": x}), got.run(None, {"image": x})) for x in feeds]
    for k, name in enumerate(outputs):
        a = np.concatenate([p[0][k].ravel() for p in pairs]).astype(np.float64)
        b = np.concatenate([p[1][k].ravel() for p in pairs]).astype(np.float64)
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        result[name] = {"cosine": cosine, "max_abs": float(np.abs(a - b).max())}
    return result


@pytest.mark.slow
def test_every_precision_builds_and_agrees_with_fp32(graphs, tmp_path):
    from workflow.quant.calibrate import calibrate
    from workflow.quant.fp16 import fp16_from_fp32
    from workflow.quant.qdq import qdq_from_ranges
    from workflow.trt.layers import layer_report, parse_layer_log
    from workflow.trt.loader import engine_bytes_from_onnx

    rows = []
    for name, fp32 in graphs.items():
        calibration = _inputs(name, seed=100)
        evaluation = _inputs(name, seed=200)
        amax = calibrate(
            fp32,
            lambda calibration=calibration: iter(calibration),
            algorithm=schema_default("calibration", "algorithm"),
            bins=schema_default("calibration", "bins"),
            percentile=99.99,
            threads=1,
        )
        variants = {
            "fp32": fp32,
            "fp16": fp16_from_fp32(fp32, keep_fp32=schema_default("fp16", "keep_fp32")),
            "int8": qdq_from_ranges(fp32, amax, source=f"{name} calibration"),
        }
        dims = {mtcnn.INPUT_NAME: {2: PNET_PROFILE, 3: PNET_PROFILE}} if name == "pnet" else None
        for precision, graph in variants.items():
            path = tmp_path / f"{name}_{precision}.onnx"
            path.write_bytes(graph)
            start = time.perf_counter()
            built = engine_bytes_from_onnx(path, tiny_build(), dims=dims)
            seconds = time.perf_counter() - start
            report = layer_report(
                parse_layer_log(built.layer_log), onnx_bytes=graph, intended=precision
            )
            agreement = _agreement(fp32, graph, evaluation)
            rows.append((name, precision, len(built.plan), seconds, report, agreement))
            if name == "pnet":
                profile = built.meta["build"]["profile"][mtcnn.INPUT_NAME]
                assert [profile[k][2:] for k in ("min", "opt", "max")] == [
                    [v, v] for v in PNET_PROFILE
                ]
    for name, precision, size, seconds, report, agreement in rows:
        print(
            f"{name} {precision}: plan {size} B, build {seconds:.1f} s, "
            f"{report['in_intended']}/{report['compute_count']} compute layers in {precision}, "
            + ", ".join(
                f"{k} cos {v['cosine']:.6f} max|d| {v['max_abs']:.2e}" for k, v in agreement.items()
            )
        )
    for name, precision, size, _, report, agreement in rows:
        assert size > 1000
        assert report["compute_count"] == len(SHAPES[name])
        assert report["in_intended"] == report["compute_count"], (name, precision, report)
        for output, values in agreement.items():
            assert values["cosine"] > FLOOR[precision], (name, precision, output, values)
