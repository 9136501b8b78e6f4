"""The pipeline's own quantization beside NVIDIA ModelOpt 0.47's ONNX PTQ: the table of
docs/modelopt.md.

For mnist, resnet50, ssd, yolov3, ocr (PP-OCRv4's detector and recogniser, each quantized) and
movielens (NeuMF, the MatMul-heavy sample) it makes, from the same FP32 graphs of a built tree
(``results/onnx/<graph>/model.onnx``) and the same calibration batches
(``results/calibrate/<graph>/batches``):

- ours: the calibrate step (``workflow.quant.calibrate``, the default config's calibrator: entropy,
  yolov3 percentile; FP8 min-max, ``fp8.algorithm``) then the precision step
  (``qdq_from_ranges``, ``fp8_from_ranges``; INT4 weight-only: ``int4_weight_only``, block 128,
  round to nearest), in this process, timed together;
- ModelOpt's: ``modelopt.onnx.quantization.quantize`` (``int8``, ``fp8``, ``int4``) in a
  subprocess of ModelOpt's own virtual environment (``--venv``; it pulls another torch and
  ONNX Runtime, so it stays out of the project's), with ONNX Runtime's CPU provider
  (``calibration_eps=['cpu']``), the batches concatenated and fed one calibration batch at a
  time (``calibration_shapes``), the rest of the graph left in FP32
  (``high_precision_dtype='fp32'``, as ours; its default is FP16) and its default calibration
  methods (INT8 and FP8: entropy; INT4: awq_clip, block 128); only the ``quantize`` call is
  timed.

Each graph is then scored by the sample's own scorer (``workflow.score``: top-1, mAP@0.5, HR@10;
OCR: lines read exactly, text lines found, CER) with ONNX Runtime on CPU, as ``snakemake`` scores
them in strict mode; no engine is built or executed. Where a graph is byte for byte the one the
tree holds (FP32, and ours where the tree built that precision), the tree's own score is read
instead of scoring it again. Where ModelOpt refuses or fails, the exception text is recorded
instead of a number. Writes benchmarks/results/modelopt.json and regenerates the table.

    .venv/bin/python benchmarks/modelopt.py --tree /tmp/defrun-d [--venv ../modelopt-venv]
    .venv/bin/python benchmarks/modelopt.py --make-venv      # create ModelOpt's environment
    .venv/bin/python benchmarks/modelopt.py --tree ... --explain  # ours with ModelOpt's ranges
    .venv/bin/python benchmarks/modelopt.py --tree ... --retime   # both steps timed again
    .venv/bin/python benchmarks/modelopt.py --docs-only      # the table from the committed JSON

ModelOpt's environment (``--make-venv``): ``python3.11 -m venv``, then ``pip install
torch==2.13.0`` (a CPU wheel) and ``pip install "nvidia-modelopt[onnx]==0.47.0"``, which brings
onnxruntime-gpu 1.24 (its CPU provider is what runs here) and cupy (unused on CPU).
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "modelopt.json"
DOC = ROOT / "docs" / "modelopt.md"
VENV = ROOT.parent / "modelopt-venv"
MODELOPT = "nvidia-modelopt[onnx]==0.47.0"
TORCH = "torch==2.13.0"
#: The samples compared: their graphs and the precisions each is quantized to.
CASES = {
    "mnist": (["mnist"], ["int8", "fp8"]),
    "resnet50": (["resnet50"], ["int8", "fp8"]),
    "ssd": (["ssd"], ["int8", "fp8"]),
    "yolov3": (["yolov3"], ["int8", "fp8"]),
    "ocr": (["ocr_det", "ocr_rec"], ["int8", "fp8"]),
    "movielens": (["movielens"], ["int8", "fp8", "int4w"]),
}
#: The op types whose inputs a precision graph quantizes (ours: all of them).
COMPUTE = ("Conv", "ConvTranspose", "Gemm", "MatMul")
#: The key of a row's measurement of our placement with ModelOpt's ranges (--explain).
EXPLAINED = "ours_with_modelopt_ranges"
#: ModelOpt's quantize_mode for each precision.
MODES = {"int8": "int8", "fp8": "fp8", "int4w": "int4"}
#: The metrics shown per sample (the scorers' keys); the first is the sample's own.
METRICS = {
    "mnist": ["top1"],
    "resnet50": ["top1"],
    "ssd": ["map"],
    "yolov3": ["map"],
    "ocr": ["exact", "recall", "cer"],
    "movielens": ["hr"],
}
#: Scores of the tree, by sample: file name under results/score/<sample>/<precision>/.
SCORE_FILES = {
    "mnist": "accuracy.json",
    "resnet50": "accuracy.json",
    "ssd": "map.json",
    "yolov3": "map.json",
    "ocr": "ocr.json",
    "movielens": "ranking.json",
}


# --- ModelOpt's side: runs in ModelOpt's environment (python -P, stdlib and numpy only) ---


def worker(args: argparse.Namespace) -> None:
    """Quantize one graph with ModelOpt and write what happened as JSON."""
    import numpy as np

    result: dict = {"seconds": None, "error": None}
    try:
        import modelopt
        import onnxruntime

        result["modelopt"] = modelopt.__version__
        result["onnxruntime"] = onnxruntime.__version__
        from modelopt.onnx.quantization import quantize

        data = dict(np.load(args.calibration))
        options = json.loads(args.options)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            quantize(
                args.onnx,
                quantize_mode=args.mode,
                calibration_data=data,
                output_path=args.output,
                **options,
            )
        finally:
            result["seconds"] = time.perf_counter() - start
            result["cpu_seconds"] = time.process_time() - cpu
        if not Path(args.output).is_file():
            result["error"] = "quantize returned without writing the output graph"
    except BaseException as error:  # noqa: BLE001 - any failure is the finding
        result["error"] = f"{type(error).__name__}: {error}".strip()
        result["traceback"] = traceback.format_exc()[-4000:]
    Path(args.result).write_text(json.dumps(result, indent=1))
    sys.stdout.flush()
    sys.stderr.flush()
    # measured: after the result is written, the interpreter's teardown of ModelOpt's
    # environment took 3 minutes (ResNet-50 INT8); nothing is left to do, so leave at once
    os._exit(0)


# --- the benchmark: runs in the project's environment ---


def make_venv(venv: Path) -> None:
    """Create ModelOpt's environment: torch first (the CPU wheel), then ModelOpt."""
    if not (venv / "bin" / "python").is_file():
        subprocess.run(["python3.11", "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, MODELOPT], check=True)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def graph_summary(path: str | Path) -> dict:
    """A graph's size and its Q/DQ nodes: how many, and the op types a DequantizeLinear feeds."""
    import onnx

    graph = onnx.load(str(path)).graph
    dq = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    fed: dict[str, int] = {}
    for node in graph.node:
        if node.op_type != "QuantizeLinear" and any(i in dq for i in node.input):
            fed[node.op_type] = fed.get(node.op_type, 0) + 1
    return {
        "bytes": Path(path).stat().st_size,
        "nodes": len(graph.node),
        "quantize": sum(n.op_type == "QuantizeLinear" for n in graph.node),
        "dequantize": len(dq),
        "dq_feeds": dict(sorted(fed.items())),
    }


def _batches(tree: Path, graph: str) -> list:
    from workflow.quant.calibrate import batches_from_folder

    return list(batches_from_folder(tree / "results" / "calibrate" / graph / "batches")())


def calibration_feed(tree: Path, graph: str, onnx_path: Path, folder: Path) -> tuple[Path, str]:
    """The graph's calibration batches concatenated by input (an .npz for ModelOpt) and the
    shape of one batch (its ``calibration_shapes``)."""
    import numpy as np
    import onnx

    batches = _batches(tree, graph)
    names = [i.name for i in onnx.load(str(onnx_path), load_external_data=False).graph.input]
    if not isinstance(batches[0], dict):
        (name,) = names
        batches = [{name: b} for b in batches]
    feed = {name: np.concatenate([b[name] for b in batches]) for name in batches[0]}
    path = folder / f"{graph}.calibration.npz"
    np.savez(path, **feed)
    shapes = ",".join(
        f"{name}:{'x'.join(str(d) for d in batches[0][name].shape)}" for name in batches[0]
    )
    return path, shapes


def modelopt_quantize(
    venv: Path, fp32: Path, precision: str, feed: Path, shapes: str, folder: Path
) -> dict:
    """ModelOpt's graph of ``fp32`` in ``precision`` (a subprocess in its environment): the
    output path, the seconds of its quantize call, or the error."""
    work = folder / f"modelopt-{precision}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = work / fp32.name
    shutil.copy2(fp32, source)  # ModelOpt writes its intermediate files beside the input
    output, result = work / "quantized.onnx", work / "result.json"
    options = {
        "calibration_eps": ["cpu"],
        "high_precision_dtype": "fp32",
        "log_level": "WARNING",
        "log_file": str(work / "modelopt.log"),
    }
    if precision == "int4w":
        options["block_size"] = 128
    options["calibration_shapes"] = shapes  # one calibration batch per step, as ours runs
    command = [
        str(venv / "bin" / "python"),
        "-P",  # not this folder first on sys.path: this file would shadow the modelopt package
        __file__,
        "--worker",
        "--onnx",
        str(source),
        "--mode",
        MODES[precision],
        "--calibration",
        str(feed),
        "--output",
        str(output),
        "--result",
        str(result),
        "--options",
        json.dumps(options),
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    (work / "stdout.log").write_text(done.stdout + done.stderr)
    found = json.loads(result.read_text()) if result.is_file() else {}
    found["process_seconds"] = time.perf_counter() - start
    if not found.get("error") and done.returncode:
        found["error"] = f"exit status {done.returncode}: {done.stderr.strip()[-600:]}"
    found["options"] = options | {"quantize_mode": MODES[precision]}
    found["graph"] = str(output) if output.is_file() and not found.get("error") else None
    if found["graph"]:
        found["made"] = graph_summary(output)
    return found


def our_quantize(tree: Path, sample: str, graph: str, precision: str, folder: Path) -> dict:
    """Our graph of ``graph`` in ``precision``: the calibrate step then the precision step, as
    the rules run them with the default config, timed."""
    from workflow.quant.calibrate import batches_from_folder, calibrate, tensors_to_calibrate
    from workflow.quant.fp8 import fp8_from_ranges
    from workflow.quant.int4 import int4_weight_only
    from workflow.quant.qdq import qdq_from_ranges
    from workflow.quant.ranges import amax_from_file
    from workflow.quant.table import table_from_amax
    from workflow.samples import config_default

    cal = config_default("calibration")
    fp32 = tree / "results" / "onnx" / graph / "model.onnx"
    output = folder / f"ours-{graph}.{precision}.onnx"
    model = fp32.read_bytes()
    start, cpu = time.perf_counter(), time.process_time()
    if precision == "int4w":
        int4 = config_default("int4")
        graph_bytes = int4_weight_only(
            model,
            block_size=int4["block_size"],
            source=str(fp32),
            batches=None,  # int4.awq_grid 0: round to nearest
            awq_grid=int4["awq_grid"],
            threads=cal["threads"],
        )
        settings = {"block_size": int4["block_size"], "awq_grid": int4["awq_grid"]}
        timings = {"precision_s": time.perf_counter() - start}
    else:
        if precision == "fp8":
            algorithm = config_default("fp8", "algorithm")
        else:
            algorithm = cal["per_sample"].get(sample, cal["algorithm"])
        amax = calibrate(
            model,
            batches_from_folder(tree / "results" / "calibrate" / graph / "batches"),
            algorithm=algorithm,
            bins=cal["bins"],
            percentile=cal["percentile"],
            threads=cal["threads"],
            tensors=tensors_to_calibrate(model, "quantized"),
            workers=2,  # rule calibrate_table's threads
        )
        table = folder / f"ours-{graph}.{precision}.table"
        text = table_from_amax(amax, version=cal["table_version"], algorithm=algorithm).to_text()
        table.write_text(text)
        calibrated = time.perf_counter()
        ranges = amax_from_file(table, source="calibrate", algorithm=algorithm)
        make = qdq_from_ranges if precision == "int8" else fp8_from_ranges
        graph_bytes = make(model, ranges, source=str(table))
        timings = {
            "calibrate_s": calibrated - start,
            "precision_s": time.perf_counter() - calibrated,
        }
        settings = {"algorithm": algorithm, "bins": cal["bins"], "tensors": len(amax)}
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    output.write_bytes(graph_bytes)
    return {
        "graph": str(output),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        **timings,
        "settings": settings,
        "made": graph_summary(output),
    }


def score(tree: Path, sample: str, graphs: dict[str, str]) -> dict:
    """The sample's metrics with these graphs (by graph name), as its score rule computes them
    with the default config (ONNX Runtime on CPU)."""
    from workflow.samples import config_default

    threads = config_default("score", "threads")
    data = tree / "results" / "data"
    if sample in ("mnist", "resnet50"):
        from workflow.models.lenet import OUTPUT_NAME
        from workflow.score.classify import accuracy, predict, predict_batches
        from workflow.score.runtimes import make_runner

        batch = config_default("score", "classify", "batch_size")
        runner = make_runner("ort", {"onnx": graphs[sample]}, module="", threads=threads)
        if sample == "mnist":
            from workflow.data.mnist import read_split, to_input

            images, labels = read_split(
                str(data / "mnist/test-images.idx"), str(data / "mnist/test-labels.idx")
            )
            with runner:
                probs = predict(runner, to_input(images), batch_size=batch, output_name=OUTPUT_NAME)
        else:
            from workflow.data.objects import list_image_split, network_input_batches

            images = config_default("data", "images")
            test, _ = list_image_split(data / f"images-{images['source']}", "test")
            batches = network_input_batches(
                test, images["preprocess"], images["input_size"], batch_size=batch
            )
            with runner:
                probs = predict_batches(runner, batches, output_name=OUTPUT_NAME)
            labels = test.labels
        return accuracy(probs, labels)
    if sample in ("ssd", "yolov3"):
        from workflow.detect.postprocess import NmsParams
        from workflow.models.detectors import detector_class, detector_from
        from workflow.score.detect import detector_runner, score_detection_set

        source = config_default("data", "detect", "source")
        spec = {"network": sample}
        if detector_class(sample).darknet_cfg:
            spec["cfg"] = str(tree / "config" / "darknet" / f"yolov3-{source}.cfg")
        detector = detector_from(spec)
        nms = {k: v for k, v in config_default("nms").items() if k != "place"}
        detect = config_default("score", "detect")
        _, report = score_detection_set(
            detector_runner("ort", {"onnx": graphs[sample]}, detector, module="", threads=threads),
            str(data / source / "test"),
            str(data / source / "classes.txt"),
            place=config_default("nms", "place"),
            params=NmsParams(**nms),
            batch_size=detect["batch_size"],
            iou_threshold=detect["iou_threshold"],
            detector=detector,
        )
        return report
    if sample == "movielens":
        from workflow.data.movielens import read_interactions
        from workflow.score.recommend import ranking, recommend
        from workflow.score.runtimes import make_runner

        settings = config_default("score", "recommend")
        source = config_default("data", "movielens", "source")
        interactions = read_interactions(data / f"movielens-{source}")
        users, movies = interactions.candidates()
        runner = make_runner("ort", {"onnx": graphs[sample]}, module="", threads=threads)
        with runner:
            best, _ = recommend(
                runner, users, movies, k=settings["k"], batch_size=settings["batch_size"]
            )
        return ranking(best, interactions.test_movies, settings["k"])
    if sample == "ocr":
        from workflow.score.ocr import score_ocr_set

        ocr = config_default("ocr")
        report, _ = score_ocr_set(
            "ort",
            {"det_onnx": graphs["ocr_det"], "rec_onnx": graphs["ocr_rec"]},
            str(tree / "results" / "onnx" / "ocr_rec" / "model.onnx"),
            str(data / "ocr" / "test"),
            det=ocr["det"],
            rec=ocr["rec"],
            iou_threshold=ocr["iou_threshold"],
            module="",
            threads=ocr["threads"],
        )
        return report
    raise ValueError(f"{sample}: no scorer here")


def tree_score(tree: Path, sample: str, precision: str, graphs: dict[str, str]) -> dict | None:
    """The tree's own score of the sample in ``precision`` where the tree's graphs of that
    precision are byte for byte ``graphs``; else None."""
    path = tree / "results" / "score" / sample / precision / SCORE_FILES[sample]
    if not path.is_file():
        return None
    for graph, made in graphs.items():
        if precision == "fp32":
            built = tree / "results" / "onnx" / graph / "model.onnx"
        else:
            built = tree / "results" / "precision" / graph / f"{precision}.onnx"
        if not built.is_file() or _sha(built) != _sha(Path(made)):
            return None
    return json.loads(path.read_text())


def metrics_of(sample: str, report: dict) -> dict[str, float]:
    return {name: float(report[name]) for name in METRICS[sample]}


def scored(tree: Path, sample: str, precision: str | None, graphs: dict[str, str]) -> dict:
    """Metrics of ``graphs``, read from the tree where it scored the same bytes in
    ``precision``, else scored (``precision`` None: always scored)."""
    found = None if precision is None else tree_score(tree, sample, precision, graphs)
    start = time.perf_counter()
    how = "the tree's score of the same graph bytes"
    if found is None:
        found, how = score(tree, sample, graphs), "scored here"
    print(
        f"  {sample} {precision or 'ModelOpt'}: {how} ({time.perf_counter() - start:.1f} s)",
        flush=True,
    )
    return {"metrics": metrics_of(sample, found), "how": how}


def modelopt_ranges(path: str | Path) -> dict[str, float]:
    """The activation ranges a ModelOpt graph quantizes with: per QuantizeLinear of a tensor
    that is no initializer, its scale times the format's largest value (INT8 127, FP8 E4M3
    448); symmetric quantizers only (zero point 0)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            values[node.output[0]] = node.attribute[0].t
    amax = {}
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in values:
            continue
        scale = numpy_helper.to_array(values[node.input[1]])
        point = values.get(node.input[2]) if len(node.input) > 2 else None
        fp8 = point is not None and point.data_type in (17, 18, 19, 20)
        if point is not None and not fp8 and np.any(numpy_helper.to_array(point) != 0):
            continue
        amax[node.input[0]] = float(scale.max()) * (448.0 if fp8 else 127.0)
    return amax


def explain(tree: Path, work: Path, data: dict, samples: list[str]) -> None:
    """For each row where ModelOpt's first metric is better than ours: our graph again with
    ModelOpt's ranges for the tensors both quantize (our placement, their calibration),
    scored; kept in the row as ``ours_with_modelopt_ranges``."""
    from workflow.quant.fp8 import fp8_from_ranges
    from workflow.quant.qdq import qdq_from_ranges
    from workflow.quant.ranges import amax_from_file

    for row in data["rows"]:
        first = row["metrics"][0]
        theirs, ours = first["modelopt"], first["ours"]
        if row["sample"] not in samples or row["precision"] == "int4w" or theirs is None:
            continue
        behind = ours > theirs if first["name"] in ("cer",) else ours < theirs
        if not behind:
            continue
        sample, precision, folder = row["sample"], row["precision"], work / row["sample"]
        graphs, taken = {}, {}
        for g in row["graphs"]:
            table = folder / f"ours-{g}.{precision}.table"
            algorithm = row["ours"]["graphs"][g]["settings"]["algorithm"]
            amax = amax_from_file(table, source="calibrate", algorithm=algorithm)
            theirs_amax = modelopt_ranges(folder / g / f"modelopt-{precision}" / "quantized.onnx")
            shared = [name for name in amax if name in theirs_amax]
            amax |= {name: theirs_amax[name] for name in shared}
            taken[g] = {"from_modelopt": len(shared), "of": len(amax)}
            make = qdq_from_ranges if precision == "int8" else fp8_from_ranges
            fp32 = (tree / "results" / "onnx" / g / "model.onnx").read_bytes()
            out = folder / f"ours-{g}.{precision}.modelopt-ranges.onnx"
            out.write_bytes(make(fp32, amax, source=f"{g}: ModelOpt's ranges"))
            graphs[g] = str(out)
        found = scored(tree, sample, None, graphs)
        row[EXPLAINED] = {"metrics": found["metrics"], "ranges": taken}
        print(f"  {sample} {precision}: ours with ModelOpt's ranges {found['metrics']}", flush=True)


def retime(tree: Path, venv: Path, work: Path, data: dict, samples: list[str]) -> None:
    """Both quantization steps of each row again (nothing scored), their wall and CPU seconds
    replacing the first run's (kept as ``first_run``): for timings on a quieter machine."""
    for row in data["rows"]:
        if row["sample"] not in samples:
            continue
        sample, precision = row["sample"], row["precision"]
        folder = work / "retime" / sample
        folder.mkdir(parents=True, exist_ok=True)
        for side in ("ours", "modelopt"):
            row[side].setdefault(
                "first_run",
                {"seconds": row[side]["seconds"]}
                | {g: {"seconds": r.get("seconds")} for g, r in row[side]["graphs"].items()},
            )
        for g in row["graphs"]:
            fp32 = tree / "results" / "onnx" / g / "model.onnx"
            ours = our_quantize(tree, sample, g, precision, folder)
            for key in ("seconds", "cpu_seconds", "calibrate_s", "precision_s"):
                if key in ours:
                    row["ours"]["graphs"][g][key] = ours[key]
            if row["modelopt"]["graphs"][g].get("error"):
                continue
            theirs = modelopt_quantize(
                venv, fp32, precision, *calibration_feed(tree, g, fp32, folder), folder / g
            )
            for key in ("seconds", "cpu_seconds", "process_seconds"):
                row["modelopt"]["graphs"][g][key] = theirs.get(key)
        for side in ("ours", "modelopt"):
            times = [r.get("seconds") for r in row[side]["graphs"].values()]
            row[side]["seconds"] = None if None in times else sum(times)
        print(
            f"  {sample} {precision}: ours {row['ours']['seconds']:.2f} s, "
            f"ModelOpt {row['modelopt']['seconds']} s",
            flush=True,
        )


def run(tree: Path, venv: Path, work: Path, samples: list[str], previous: dict) -> dict:
    """Every sample's rows (kept from ``previous`` for samples not asked for)."""
    rows = [r for r in previous.get("rows", []) if r["sample"] not in samples]
    versions: dict = previous.get("modelopt", {})
    for sample in samples:
        graphs, precisions = CASES[sample]
        folder = work / sample
        folder.mkdir(parents=True, exist_ok=True)
        fp32 = {g: str(tree / "results" / "onnx" / g / "model.onnx") for g in graphs}
        print(f"[{time.strftime('%H:%M:%S')}] {sample}", flush=True)
        base = scored(tree, sample, "fp32", fp32)
        feeds = {
            g: calibration_feed(tree, g, Path(fp32[g]), folder) for g in graphs
        }  # (npz, shapes)
        for precision in precisions:
            ours = {g: our_quantize(tree, sample, g, precision, folder) for g in graphs}
            theirs = {}
            for g in graphs:
                theirs[g] = modelopt_quantize(venv, Path(fp32[g]), precision, *feeds[g], folder / g)
                versions |= {k: theirs[g][k] for k in ("modelopt", "onnxruntime") if k in theirs[g]}
            ours_score = scored(tree, sample, precision, {g: ours[g]["graph"] for g in graphs})
            errors = {g: r["error"] for g, r in theirs.items() if r.get("error")}
            theirs_score = None
            if not errors:
                theirs_score = scored(tree, sample, None, {g: theirs[g]["graph"] for g in graphs})
            rows.append(
                {
                    "sample": sample,
                    "precision": precision,
                    "tree": str(tree),
                    "graphs": graphs,
                    "metrics": [
                        {
                            "name": name,
                            "fp32": base["metrics"][name],
                            "ours": ours_score["metrics"][name],
                            "modelopt": None
                            if theirs_score is None
                            else theirs_score["metrics"][name],
                        }
                        for name in METRICS[sample]
                    ],
                    "scored": {
                        "fp32": base["how"],
                        "ours": ours_score["how"],
                        "modelopt": None if theirs_score is None else theirs_score["how"],
                    },
                    "ours": {
                        "seconds": sum(o["seconds"] for o in ours.values()),
                        "graphs": {
                            g: {k: v for k, v in o.items() if k != "graph"} for g, o in ours.items()
                        },
                    },
                    "modelopt": {
                        "seconds": None
                        if any(r.get("seconds") is None for r in theirs.values())
                        else sum(r["seconds"] for r in theirs.values()),
                        "error": "; ".join(f"{g}: {e}" for g, e in errors.items()) or None,
                        "graphs": {
                            g: {k: v for k, v in r.items() if k not in ("graph",)}
                            for g, r in theirs.items()
                        },
                    },
                }
            )
            row = rows[-1]
            print(
                f"  {sample} {precision}: {row['metrics']} ours {row['ours']['seconds']:.1f} s, "
                f"ModelOpt {row['modelopt']['seconds']} s {row['modelopt']['error'] or ''}",
                flush=True,
            )
            _save(tree, venv, rows, versions)
    return {"rows": rows, "modelopt": versions}


def compute_nodes(path: str | Path) -> int:
    """The Conv, ConvTranspose, Gemm and MatMul nodes of a graph's main graph."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(n.op_type in COMPUTE for n in graph.node)


def _save(tree: Path, venv: Path, rows: list, versions: dict) -> None:
    """Write the JSON as it stands (rows in CASES order), so that a long run keeps its rows."""
    import onnxruntime

    # keep what an --explain run wrote meanwhile
    written = json.loads(OUT.read_text())["rows"] if OUT.is_file() else []
    explained = {(r["sample"], r["precision"]): r[EXPLAINED] for r in written if EXPLAINED in r}
    for row in rows:
        if EXPLAINED not in row and (row["sample"], row["precision"]) in explained:
            row[EXPLAINED] = explained[row["sample"], row["precision"]]
        if "compute_nodes" not in row:
            row["compute_nodes"] = {
                g: compute_nodes(tree / "results" / "onnx" / g / "model.onnx")
                for g in row["graphs"]
            }

    order = {s: k for k, s in enumerate(CASES)}
    rows = sorted(
        rows, key=lambda r: (order[r["sample"]], CASES[r["sample"]][1].index(r["precision"]))
    )
    for row in rows:
        row.setdefault("tree", str(tree))
    data = {
        "trees": sorted({row["tree"] for row in rows}),
        "modelopt": versions,
        "venv": str(venv),
        "project_onnxruntime": onnxruntime.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared, run at low priority)",
        "metrics": METRICS,
        "rows": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")


def render(data: dict) -> None:
    from workflow.report.modelopt import render_table, replace_between

    DOC.write_text(replace_between(DOC.read_text(), render_table(data)))
    print(render_table(data))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", type=Path, help="a built copy of the workflow (read only)")
    parser.add_argument("--venv", type=Path, default=VENV, help=f"ModelOpt's (default {VENV})")
    parser.add_argument("--work", type=Path, default=Path("/tmp/modelopt-bench"))
    parser.add_argument("--samples", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--make-venv", action="store_true", help="create --venv and stop")
    parser.add_argument("--docs-only", action="store_true", help="the table from the JSON")
    parser.add_argument(
        "--retime",
        action="store_true",
        help="time both quantization steps again, scoring nothing (replaces the seconds)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="where ModelOpt is ahead: ours with ModelOpt's ranges (reads --work's graphs)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--onnx", "--mode", "--calibration", "--output", "--result", "--options"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    if args.make_venv:
        make_venv(args.venv)
        return
    if not args.docs_only:
        if args.tree is None:
            parser.error("--tree is needed unless --docs-only or --make-venv")
        if not (args.venv / "bin" / "python").is_file():
            parser.error(f"no ModelOpt environment at {args.venv}: run with --make-venv first")
        from workflow.repro import job_environment

        os.environ.update(job_environment("strict"))  # as the default config's jobs run
        previous = json.loads(OUT.read_text()) if OUT.is_file() else {}
        if args.retime:
            retime(args.tree.resolve(), args.venv, args.work, previous, args.samples)
            OUT.write_text(json.dumps(previous, indent=1) + "\n")
        elif args.explain:
            explain(args.tree.resolve(), args.work, previous, args.samples)
            found = {(r["sample"], r["precision"]): r for r in previous["rows"]}
            data = json.loads(OUT.read_text())  # as it stands now: another run may be writing
            for row in data["rows"]:
                if EXPLAINED in found.get((row["sample"], row["precision"]), {}):
                    row[EXPLAINED] = found[row["sample"], row["precision"]][EXPLAINED]
            OUT.write_text(json.dumps(data, indent=1) + "\n")
        else:
            run(args.tree.resolve(), args.venv, args.work, args.samples, previous)
    render(json.loads(OUT.read_text()))


if __name__ == "__main__":
    main()
