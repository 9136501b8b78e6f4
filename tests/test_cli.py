"""The command-line tools, run as a user runs them."""

import ast
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT
from workflow.formats.pnm import pnm_bytes

TOOL = ROOT / "scripts" / "cli" / "infer_digit.py"


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory):
    import torch

    from workflow.models.export import onnx_from_torch
    from workflow.models.lenet import INPUT_NAME, OUTPUT_NAME, lenet, with_softmax

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cli") / "lenet.onnx"
    sample = np.zeros((2, 1, 28, 28), np.float32)
    path.write_bytes(
        onnx_from_torch(
            with_softmax(lenet()), sample, input_name=INPUT_NAME, output_name=OUTPUT_NAME, opset=18
        )
    )
    return path


def _run(*args):
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True
    )


@pytest.mark.slow
def test_classifies_a_pgm(lenet_onnx, tmp_path):
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 13:15] = 255
    pgm = tmp_path / "1.pgm"
    pgm.write_bytes(pnm_bytes(image, comment="a one"))
    out = _run("--onnx", lenet_onnx, pgm)
    assert out.returncode in (0, 1), out.stderr  # untrained weights: any verdict
    assert "@" in out.stdout and "Output probabilities:" in out.stdout
    assert "(true digit 1)" in out.stdout
    probs = [float(p) for p in re.findall(r"^  \d: ([0-9.]+)", out.stdout, flags=re.M)]
    assert len(probs) == 10 and abs(sum(probs) - 1) < 1e-3


def test_bad_inputs_exit_2_with_the_reason(lenet_onnx, tmp_path):
    wrong = tmp_path / "big.pgm"
    wrong.write_bytes(pnm_bytes(np.zeros((30, 28), np.uint8)))
    out = _run("--onnx", lenet_onnx, wrong)
    assert out.returncode == 2 and "expected a 28x28 PGM" in out.stderr
    ascii_pgm = tmp_path / "ascii.pgm"
    ascii_pgm.write_bytes(b"P2\n28 28\n255\n0\n")
    out = _run("--onnx", lenet_onnx, ascii_pgm)
    assert out.returncode == 2 and "unsupported magic 'P2'" in out.stderr


@pytest.mark.slow
def test_engine_without_gpu_says_so(tiny_engine, tmp_path):
    from workflow.trt.gpu import gpu_info

    if gpu_info()[0] is not None:
        pytest.skip("this machine has a GPU")
    pgm = tmp_path / "3.pgm"
    pgm.write_bytes(pnm_bytes(np.zeros((28, 28), np.uint8)))
    out = _run("--engine", tiny_engine.plan, pgm)
    assert out.returncode == 2 and "needs a CUDA GPU" in out.stderr


PREPARE = ROOT / "scripts" / "cli" / "prepare_batches.py"


def test_prepare_batches_from_idx_matches_the_rule_format(tmp_path, t10k):
    from workflow.quant.batches import check_batch_folder, read_batch

    out = subprocess.run(
        [
            sys.executable,
            str(PREPARE),
            "--idx-images",
            str(t10k / "t10k-images-idx3-ubyte.gz"),
            "--idx-labels",
            str(t10k / "t10k-labels-idx1-ubyte.gz"),
            "--batch-size",
            "50",
            "--batches",
            "3",
            "--out",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    infos = check_batch_folder(tmp_path / "b")
    assert [i.dims for i in infos] == [(50, 1, 28, 28)] * 3 and all(i.has_labels for i in infos)
    images, labels = read_batch(tmp_path / "b" / "batch0")
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the first MNIST test digits


def test_prepare_batches_from_ppm_folder_and_errors(tmp_path):
    from workflow.quant.batches import read_batch

    folder = tmp_path / "ppm"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.ppm").write_bytes(pnm_bytes(np.full((3, 5, 3), 255 * (i % 2), np.uint8)))
    args = [
        "--pnm-dir",
        str(folder),
        "--scale",
        str(2 / 255),
        "--offset",
        "-1",
        "--batch-size",
        "2",
    ]
    ok = subprocess.run(
        [sys.executable, str(PREPARE), *args, "--batches", "2", "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    images, labels = read_batch(tmp_path / "b" / "batch1")
    assert images.shape == (2, 3, 3, 5) and labels is None
    assert images[0].max() == -1.0 and images[1].min() == 1.0
    too_many = subprocess.run(
        [sys.executable, str(PREPARE), *args, "--batches", "3", "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
    )
    assert too_many.returncode == 2 and "need 6 images, the dataset has 4" in too_many.stderr
    (folder / "odd.pgm").write_bytes(pnm_bytes(np.zeros((3, 5), np.uint8)))
    mixed = subprocess.run(
        [sys.executable, str(PREPARE), *args, "--batches", "1", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
    )
    assert mixed.returncode == 2 and "differs from" in mixed.stderr


DETECT_TOOL = ROOT / "scripts" / "cli" / "detect_objects.py"


@pytest.mark.slow
def test_detects_objects_and_draws_them(tmp_path):
    from PIL import Image

    from tests.models.test_ssd import _inputs, _trained_weights
    from workflow.data.detection import write_classes
    from workflow.data.shapes import CLASSES, scene
    from workflow.formats.pnm import pnm_bytes, read_pnm
    from workflow.models.ssd import export_ssd

    graph, _ = export_ssd(
        str(_trained_weights(tmp_path)), 5, _inputs(2), opset=18, batch_size=2, tolerance=1e-5
    )
    (tmp_path / "ssd.onnx").write_bytes(graph)
    write_classes(tmp_path / "classes.txt", CLASSES)
    ppm = tmp_path / "scene.ppm"
    ppm.write_bytes(pnm_bytes(scene(3, max_objects=3, min_size=40, max_size=90)[0]))
    common = ["--onnx", tmp_path / "ssd.onnx", "--classes", tmp_path / "classes.txt"]
    out = subprocess.run(
        [
            sys.executable,
            str(DETECT_TOOL),
            *map(str, common),
            "--visualize",
            "0",
            "--keep-top-k",
            "7",
            "--out",
            str(tmp_path / "drawn"),
            str(ppm),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{ppm}: 7 detections at confidence >= 0.0" and len(lines) == 8
    drawn = read_pnm(tmp_path / "drawn/scene.ppm")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "drawn/scene.png")), drawn)
    assert not np.array_equal(drawn, read_pnm(ppm))
    grey = tmp_path / "small.pgm"
    grey.write_bytes(pnm_bytes(np.zeros((28, 28), np.uint8)))
    out = _detect(*common, grey)
    assert out.returncode == 2 and "expected an RGB PPM (P6)" in out.stderr
    small = tmp_path / "small.ppm"
    small.write_bytes(pnm_bytes(np.zeros((28, 28, 3), np.uint8)))
    out = _detect(*common, small)
    assert out.returncode == 2 and "expected a 300x300 PPM" in out.stderr


def _detect(*args):
    return subprocess.run(
        [sys.executable, str(DETECT_TOOL), *map(str, args)], capture_output=True, text=True
    )


def test_detects_with_yolov3_on_an_image_of_any_size(tmp_path):
    from tests.formats.test_darknet import CFG, random_weights
    from workflow.formats.darknet import parse_cfg
    from workflow.formats.pnm import pnm_bytes
    from workflow.netdef.darknet import onnx_from_darknet

    network = parse_cfg(CFG)  # 32x32 input, two heads of 2 classes
    (tmp_path / "net.cfg").write_text(CFG)
    (tmp_path / "yolo.onnx").write_bytes(onnx_from_darknet(network, random_weights(network)))
    (tmp_path / "classes.txt").write_text("a\nb\n")
    wide = tmp_path / "wide.ppm"
    wide.write_bytes(pnm_bytes(np.full((20, 50, 3), 90, np.uint8)))
    common = ["--onnx", tmp_path / "yolo.onnx", "--classes", tmp_path / "classes.txt"]
    out = _detect(
        *common, "--detector", "yolov3", "--cfg", tmp_path / "net.cfg", "--visualize", 0, wide
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{wide}: ")
    for line in out.stdout.splitlines()[1:]:  # boxes lie in the 50x20 image
        x0, y0, x1, y1 = (int(v) for v in line.split(" at ")[1].strip("()[]").split(", "))
        assert 0 <= x0 <= x1 <= 49 and 0 <= y0 <= y1 <= 19
    missing = _detect(*common, "--detector", "yolov3", wide)
    assert missing.returncode == 2 and "needs --cfg" in missing.stderr


@pytest.mark.slow
def test_detects_with_faster_rcnn_through_both_graphs(tmp_path):
    import yaml

    from tests.models.test_frcnn import CLASSES, GEOMETRY, _scenes, _train
    from workflow.detect.frcnn import FrcnnGeometry
    from workflow.formats.pnm import pnm_bytes
    from workflow.models.checkpoint import state_dict_bytes
    from workflow.models.frcnn import export_frcnn

    images, annotations = _scenes()
    (tmp_path / "w.pt").write_bytes(state_dict_bytes(_train(images, annotations)))
    geometry = FrcnnGeometry.from_config(GEOMETRY)
    rpn, head, _ = export_frcnn(
        str(tmp_path / "w.pt"), 2, images, geometry, opset=18, batch_size=4, tolerance=1e-4
    )
    (tmp_path / "rpn.onnx").write_bytes(rpn)
    (tmp_path / "head.onnx").write_bytes(head)
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"train": {"frcnn": GEOMETRY}}))
    scene = tmp_path / "scene.ppm"
    scene.write_bytes(pnm_bytes(images[1]))
    common = ["--detector", "faster_rcnn", "--classes", tmp_path / "classes.txt"]
    common += ["--config-file", tmp_path / "config.yaml", "--onnx", tmp_path / "rpn.onnx"]
    out = _detect(
        *common,
        "--head-onnx",
        tmp_path / "head.onnx",
        "--visualize",
        0,
        "--out",
        tmp_path / "drawn",
        scene,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{scene}: ") and (tmp_path / "drawn/scene.png").is_file()
    alone = _detect(*common, scene)
    assert alone.returncode == 2 and "needs the rpn and the head" in alone.stderr


# The one console command, ``trtsamples <command>``: a subcommand for every tool in scripts/cli/.

TRTSAMPLES = Path(sys.executable).parent / "trtsamples"
HEAVY = ("torch", "tensorrt", "tensorrt_rtx", "onnxruntime", "tensorflow", "cuda", "polygraphy")
TOOLS = sorted((ROOT / "scripts" / "cli").glob("*.py"))


def _command(*args, cwd=ROOT):
    assert TRTSAMPLES.is_file(), f"{TRTSAMPLES} missing: run `pip install -e .` to install it"
    return subprocess.run(
        [str(TRTSAMPLES), *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def _script(name, *args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli" / f"{name}.py"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_the_command_is_declared_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["trtsamples"] == "workflow.tools:main"


def test_every_tool_is_a_subcommand_and_its_script_a_shim():
    from workflow.tools import COMMANDS

    assert len(TOOLS) >= 12
    assert sorted(c.module for c in COMMANDS.values()) == [p.stem for p in TOOLS]
    for path in TOOLS:
        source = path.read_text()
        assert f"from workflow.tools.{path.stem} import main\n" in source, path
        assert len(ast.parse(source).body) == 4, f"{path}: not a shim calling main"


def test_help_lists_every_subcommand_fast_without_heavy_libraries():
    from workflow.tools import COMMANDS

    start = time.perf_counter()
    out = _command("--help")
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert elapsed < 2, f"trtsamples --help took {elapsed:.2f} s"
    listed = re.findall(r"^  (\S+)  +(\S.*)$", out.stdout.split("commands:\n")[1], flags=re.M)
    assert dict(listed) == {name: c.summary for name, c in COMMANDS.items()}
    code = (
        "import sys\n"
        "from workflow.tools import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as done:\n    print(done.code)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}"
        " or m.startswith('workflow.tools.')))\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert probe.stdout.splitlines()[-2:] == ["0", "[]"], probe.stdout + probe.stderr


def test_a_missing_or_unknown_command_exits_2():
    assert _command().returncode == 2
    unknown = _command("sample")
    assert unknown.returncode == 2 and "invalid choice: 'sample'" in unknown.stderr
    assert "'samples'" in unknown.stderr


@pytest.mark.parametrize("path", TOOLS, ids=lambda p: p.stem)
def test_each_subcommand_help_is_its_tool_docstring(path):
    from workflow.tools import COMMANDS

    name = next(n for n, c in COMMANDS.items() if c.module == path.stem)
    source = (ROOT / "workflow" / "tools" / path.name).read_text()
    summary = ast.get_docstring(ast.parse(source)).splitlines()[0]
    code = (
        "import sys\n"
        "from workflow.tools import main\n"
        f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit as done:\n    print(done.code)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.splitlines()[-2:] == ["0", "[]"], out.stdout + out.stderr
    assert out.stdout.startswith(f"usage: trtsamples {name} ")
    assert summary in out.stdout


def test_samples_command_prints_what_the_script_prints():
    rows = yaml.safe_load((ROOT / "config" / "samples.yaml").read_text())
    new, old = _command("samples", "ssd", "--targets"), _script("list_samples", "ssd", "--targets")
    assert new.returncode == old.returncode == 0, new.stderr
    assert new.stdout == old.stdout
    assert new.stdout.splitlines()[0] == f"ssd: {rows['ssd']['caption']}"
    assert "  snakemake engines/ssd_fp32.plan" in new.stdout.splitlines()
    new, old = _command("samples", "nope"), _script("list_samples", "nope")
    assert new.returncode == old.returncode == 2
    assert new.stderr == old.stderr and "unknown sample(s) nope" in new.stderr


@pytest.mark.slow
def test_config_manual_command_writes_what_the_script_checks(tmp_path):
    manual = tmp_path / "README.md"
    wrote = _command("config-manual", "--output", manual)
    assert wrote.returncode == 0 and wrote.stdout == f"wrote {manual}\n", wrote.stderr
    assert manual.read_text().startswith("# ")
    assert _command("config-manual", "--check", "--output", manual).returncode == 0
    assert _script("config_manual", "--check", "--output", manual).returncode == 0
    manual.write_text(manual.read_text() + "\nedited by hand\n")
    new = _command("config-manual", "--check", "--output", manual)
    old = _script("config_manual", "--check", "--output", manual)
    assert new.returncode == old.returncode == 1
    assert new.stderr == old.stderr == f"{manual} | stale | run trtsamples config-manual\n"
