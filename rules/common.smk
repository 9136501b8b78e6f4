# All Snakefile-side Python: targets, input functions, wildcard constraints.
# Input functions only build paths; no torch or TensorRT is imported here.
import re

from workflow.data.mnist import MNIST_FILES
from workflow.trt.module import resolve_module, tensorrt_identity
from workflow.errors import TensorRTUnavailable

MNIST_DATA = "results/data/mnist"
#: "<module> <version>" of the TensorRT that builds engines: a rule param, so a new TensorRT
#: rebuilds them.
TENSORRT = tensorrt_identity(config["tensorrt"]["module"])


wildcard_constraints:
    model="|".join(config["samples"]),
    precision="|".join(config["precisions"]),
    file="|".join(re.escape(name) for name in MNIST_FILES),
    digit="[0-9]",


def final_targets():
    """Every sample in every precision: its engine, its hello-world run and its score; and the
    comparison of the precisions of each sample."""
    return expand(
        [
            "engines/{model}_{precision}.plan",
            "results/score/{model}/{precision}/hello.txt",
            "results/score/{model}/{precision}/accuracy.json",
        ],
        model=config["samples"],
        precision=config["precisions"],
    ) + expand("results/score/{model}/precisions.json", model=config["samples"])


def get_mnist_sources(wildcards):
    """Input files of the MNIST data stage for the configured source."""
    cfg = config["mnist"]
    if cfg["source"] == "mnist":
        return {name: f"{cfg['download']['dir']}/{name}" for name in MNIST_FILES}
    if cfg["source"] == "idx":
        return {"images": cfg["idx"]["images"], "labels": cfg["idx"]["labels"]}
    return {}


def get_mnist_md5(wildcards):
    """Expected md5 of one standard MNIST file."""
    return MNIST_FILES[wildcards.file]


def get_precision_graph(wildcards):
    """The ONNX graph whose precision an engine of {precision} has."""
    if wildcards.precision == "fp32":
        return f"results/onnx/{wildcards.model}/model.onnx"
    return f"results/precision/{wildcards.model}/{wildcards.precision}.onnx"


def get_int8_ranges(wildcards):
    """The dynamic ranges of the INT8 graph: the pipeline's table, or the user's file."""
    cfg = config["calibration"]
    if cfg["source"] == "table":
        return cfg["table"]
    if cfg["source"] == "ranges":
        return cfg["ranges"]
    return f"results/calibrate/{wildcards.model}/calibration.table"


def get_score_model(wildcards):
    """What the configured runtime runs: the ONNX graph (ort) or the engine (trt)."""
    if config["score"]["runtime"] == "trt":
        stem = f"engines/{wildcards.model}_{wildcards.precision}.plan"
        return {"plan": stem, "meta": f"{stem}.json"}
    return {"onnx": get_precision_graph(wildcards)}


def get_engine_gpus():
    """1 when engines are built with full TensorRT (it needs a GPU), else 0."""
    try:
        return int(resolve_module(config["tensorrt"]["module"]) == "tensorrt")
    except TensorRTUnavailable:
        return 0


def get_score_gpus():
    """1 when scoring runs the TensorRT engine, else 0."""
    return int(config["score"]["runtime"] == "trt")
