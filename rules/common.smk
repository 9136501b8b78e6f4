# All Snakefile-side Python: targets, input functions, wildcard constraints.
# Input functions only build paths; no torch or TensorRT is imported here.
import os
import re
from pathlib import Path

from workflow.data.mnist import MNIST_FILES
from workflow.data.movielens import ML1M_ARCHIVE
from workflow.data.objects import IMAGENET_CLASS_INDEX
from workflow.data.translation import WMT16_FILES
from workflow.netdef.nmt import FILES as NMT_FILES
from workflow.data.voc2007 import VOC2007_ARCHIVES
from workflow.formats.darknet import OFFICIAL_YOLOV3
from workflow.models.imagenet import TORCHVISION_WEIGHTS
from workflow.errors import PipelineError
from workflow.fingerprint import code_fingerprint, remember_in
from workflow.repro import job_environment
from workflow.samples import (
    TASK_SCORES,
    load_registry,
    own_model_settings,
    precision_graph,
    summary_files,
)
from workflow.score.runtimes import RUNNER_MODULES
from workflow.score.serve import BACKEND_MODULES, GPU_BACKENDS, check_backend, check_mps
from workflow.trt.config import BuildConfig
from workflow.trt.module import tensorrt_identity

#: strict or native (workflow/repro.py): what every job's environment pins, set here so that
#: it is in place before a job loads any numeric library; a rule param of every rule that
#: computes floats, so switching it reruns them.
REPRODUCIBLE = config["reproducible"]
os.environ.update(job_environment(REPRODUCIBLE))
#: The sample registry; config key `samples` may name only its rows.
REGISTRY = load_registry(f"{workflow.basedir}/config/samples.yaml").with_own(
    config["byo"]
)
REGISTRY.check_chosen(config["samples"])
REGISTRY.check_chosen(
    list(config["calibration"]["per_sample"]), key="calibration.per_sample"
)
SAMPLES = REGISTRY.samples
#: The registry's captions, read by the report's caption template (report/sample.rst) under
#: every sample's results. Not a setting: set after validation, and kept out of the rules'
#: params so that editing a caption reruns nothing.
config["_captions"] = {name: row["caption"] for name, row in SAMPLES.items()}
MNIST_DATA = "results/data/mnist"
#: The image classifiers' data tree (classes.txt, train/<class>/, test/<class>/), by source.
IMAGES_DATA = f"results/data/images-{config['data']['images']['source']}"
#: Where ImageNet's files are downloaded to (or placed by hand), and those files by name:
#: (url, checksum).
IMAGENET_DIR = config["data"]["images"]["download"]["dir"]
IMAGENET_FILES = {
    "imagenet_class_index.json": IMAGENET_CLASS_INDEX,
    **{name: (url, checksum) for name, url, checksum in TORCHVISION_WEIGHTS.values()},
}
#: Whether the image classifiers take torchvision's ImageNet weights instead of training.
IMAGENET_WEIGHTS = config["train"]["images"]["weights"] == "imagenet"
#: What every image classifier's rule needs to turn an image into the network's input.
IMAGE_INPUT = {
    "preprocess": config["data"]["images"]["preprocess"],
    "input_size": config["data"]["images"]["input_size"],
}
#: The character model's text (train.txt, test.txt, vocab.json), by source.
TEXT_DATA = f"results/data/text-{config['data']['text']['source']}"
#: The translator's sentence pairs (train/test.<lang>, vocab.<lang>), by source.
TRANSLATION = config["data"]["translation"]
TRANSLATION_DATA = f"results/data/translation-{TRANSLATION['source']}"
#: Where the seed's WMT16 files are downloaded to (or placed by hand).
WMT16_DIR = TRANSLATION["wmt16"]["dir"]
#: The detection set of the SSD sample: classes.txt and the train/ and test/ folders.
DETECT_DATA = f"results/data/{config['data']['detect']['source']}"
#: The recommenders' interactions (interactions.npz, titles.txt), by source.
MOVIELENS_DATA = f"results/data/movielens-{config['data']['movielens']['source']}"
#: The darknet cfg of the YOLOv3 trained here: the configured one, else the project's for the
#: detection set ("" for your own set: it needs one whose heads know its classes).
YOLO_CFG = config["train"]["yolo"]["cfg"] or {
    "shapes": "config/darknet/yolov3-shapes.cfg",
    "voc2007": "config/darknet/yolov3-voc.cfg",
}.get(config["data"]["detect"]["source"], "")
#: Where the official darknet files are downloaded to (or placed by hand).
DARKNET_DIR = config["train"]["darknet"]["dir"]
#: The SSD's NMS thresholds (confidence, iou, top_k, keep_top_k), without where NMS runs.
SSD_NMS = {k: v for k, v in config["nms"].items() if k != "place"}
#: "<module> <version>" of the TensorRT that builds engines: a rule param, so a new TensorRT
#: rebuilds them.
TENSORRT = tensorrt_identity(config["tensorrt"]["module"])
#: Engine build options, handed as one param to every build (workflow.trt.config.BuildConfig).
ENGINE_BUILD = BuildConfig.from_config(config).as_params()


#: The plugin library the plugin samples' engines load (rule plugin_library).
PLUGIN_LIBRARY = "results/plugins/libtrt_samples_plugins.so"
#: The OCR samples' rendered text: test/ and calib/ splits.
OCR_DATA = "results/data/ocr"


#: The precisions of graphs, engines and scores: the chosen ones, and fp8 and int4w (opt in:
#: their targets are built on request even when not chosen).
PRECISIONS = "|".join(dict.fromkeys([*config["precisions"], "fp8", "int4w"]))
#: ... and what an ONNX-parser engine may be built in besides: mixed, the graph of rule
#: precision_mixed (results/precision/<model>/mixed.onnx), on request only. It is no registry
#: precision (no rule all target, no score, no summary row), so only the engine rules take it.
ENGINE_PRECISIONS = f"{PRECISIONS}|mixed"


wildcard_constraints:
    model="|".join(dict.fromkeys([*SAMPLES, *REGISTRY.all_graphs])),
    precision=PRECISIONS,
    file="|".join(re.escape(name) for name in MNIST_FILES),
    digit="[0-9]",


#: Module analyses are remembered between runs (keyed by modification time and size).
remember_in(".snakemake/code-fingerprints.json")


def code_of(script, *modules):
    """Fingerprint of the library code scripts/<script>.py runs (and of the modules it loads
    by name): a rule param, so a change in that code reruns the rule's jobs (and only them,
    and what depends on them)."""
    return code_fingerprint(f"{workflow.basedir}/scripts/{script}.py", *modules)


def score_code(script):
    """The code fingerprint of a scoring rule: its script and the runner of its runtime only,
    so that an edit to one backend does not rescore what the other one scored."""
    return lambda wildcards: code_of(script, RUNNER_MODULES[get_runtime(wildcards)])


def final_targets():
    """Every chosen sample in every precision its builder makes (registry rows): its engine,
    its hello-world run or drawn detections, its score and the precision comparison; and the
    results summary of them all."""
    return [
        target
        for sample in config["samples"]
        for target in REGISTRY.targets(sample, config["precisions"])
    ] + ["results/summary.json"]


def get_summary_files():
    """Per chosen sample, per precision it builds, the files the summary reads."""
    return {
        sample: {
            precision: summary_files(REGISTRY, sample, precision)
            for precision in config["precisions"]
            if precision in SAMPLES[sample]["precisions"]
        }
        for sample in config["samples"]
    }


def summary_inputs(wildcards):
    """Those files as a list (the summary rule's input)."""
    found = []
    for by_precision in get_summary_files().values():
        for files in by_precision.values():
            found.append(files["score"])
            for engine in files["engines"]:
                found += [engine[key] for key in sorted(engine)]
    return sorted(set(found))


def report_category(wildcards):
    """The Snakemake report's category of a result: its sample."""
    return REGISTRY.sample_of(wildcards.model)


def get_mnist_sources(wildcards):
    """Input files of the MNIST data stage for the configured source."""
    cfg = config["data"]["mnist"]
    if cfg["source"] == "mnist":
        return {name: f"{cfg['download']['dir']}/{name}" for name in MNIST_FILES}
    if cfg["source"] == "idx":
        return {"images": cfg["idx"]["images"], "labels": cfg["idx"]["labels"]}
    return {}


def get_mnist_md5(wildcards):
    """Expected md5 of one standard MNIST file."""
    return MNIST_FILES[wildcards.file]


def get_darknet_file(wildcards):
    """(url, md5) of one official darknet file."""
    return OFFICIAL_YOLOV3[wildcards.darknet_file]


def get_voc2007_md5(wildcards):
    """Expected md5 of one VOC 2007 archive."""
    return {name: md5 for name, md5 in VOC2007_ARCHIVES.values()}[wildcards.archive]


def get_precision_graph(wildcards):
    """The ONNX graph of {model} (a graph) in {precision}."""
    return precision_graph(wildcards.model, wildcards.precision)


def get_calibration_algorithm(wildcards):
    """The calibrator of a graph: its sample's entry in calibration.per_sample, else the
    global one."""
    cfg = config["calibration"]
    return cfg["per_sample"].get(REGISTRY.sample_of(wildcards.model), cfg["algorithm"])


def get_int8_ranges(wildcards):
    """The dynamic ranges of the INT8 graph: the pipeline's table, or the user's file."""
    cfg = config["calibration"]
    if cfg["source"] == "table":
        return cfg["table"]
    if cfg["source"] == "ranges":
        return cfg["ranges"]
    return f"results/calibrate/{wildcards.model}/calibration.table"


def get_fp8_algorithm(wildcards):
    """The calibrator of a graph's FP8 ranges: fp8.algorithm (for your own table or range
    file, the INT8 one: the file is the same)."""
    if config["calibration"]["source"] != "calibrate":
        return get_calibration_algorithm(wildcards)
    return config["fp8"]["algorithm"]


def get_fp8_ranges(wildcards):
    """The dynamic ranges of the FP8 graph: the INT8 graph's where the calibrators agree (or
    where they come from your file), else the FP8 calibration's table."""
    if get_fp8_algorithm(wildcards) == get_calibration_algorithm(wildcards):
        return get_int8_ranges(wildcards)
    return f"results/calibrate/{wildcards.model}/calibration_fp8.table"


def get_int4_batches(wildcards):
    """The calibration batches the AWQ search of an INT4 weight-only graph reads (a sample
    calibrated for INT8, int4.awq_grid set); else none: round to nearest."""
    sample = REGISTRY.sample_of(wildcards.model)
    if config["int4"]["awq_grid"] and "int8" in SAMPLES[sample]["precisions"]:
        return {"batches": f"results/calibrate/{wildcards.model}/batches"}
    return {}


def get_int4_block(wildcards):
    """int4.block_size for an int4w network-API build or score, else 0 (so that changing it
    rebuilds only int4w)."""
    return config["int4"]["block_size"] if wildcards.precision == "int4w" else 0


def get_api_reference(wildcards):
    """The ONNX graph a network-API build is checked against and named in its metadata: the
    ONNX emission of the same description, or for int4w its INT4 weight-only graph (the one
    ONNX Runtime scores), whose INT4 values and scales the build checks are its own."""
    if wildcards.precision == "int4w":
        return f"results/precision/{wildcards.model}/int4w.onnx"
    return f"results/onnx/{wildcards.model}/model.onnx"


def get_runtime(wildcards):
    """The runtime that scores a sample: the configured one; TensorRT for a refit sample."""
    if SAMPLES[wildcards.model]["builder"] == "refit":
        return "trt"
    return config["score"]["runtime"]


def get_score_module(wildcards):
    """The TensorRT module choice, where scoring runs TensorRT ("" otherwise, so that changing
    it does not rescore what ONNX Runtime scored)."""
    return config["tensorrt"]["module"] if get_runtime(wildcards) == "trt" else ""


def get_score_model(wildcards):
    """What the runtime runs: the ONNX graph (ort) or the engine and its metadata (trt); for
    a split sample, those of each part, keyed <part>_onnx, <part>_plan, <part>_meta."""
    trt = get_runtime(wildcards) == "trt"
    parts = SAMPLES[wildcards.model].get("parts", [""])
    files = {}
    for part, graph, plan in zip(
        parts,
        REGISTRY.graphs(wildcards.model),
        REGISTRY.engines(wildcards.model, wildcards.precision),
    ):
        prefix = f"{part}_" if part else ""
        if trt:
            files |= {f"{prefix}plan": plan, f"{prefix}meta": f"{plan}.json"}
        else:
            files[f"{prefix}onnx"] = precision_graph(graph, wildcards.precision)
    return files


def get_sample_precisions(wildcards):
    """The chosen precisions a sample's builder makes."""
    made = SAMPLES[wildcards.model]["precisions"]
    return [p for p in config["precisions"] if p in made]


def get_precision_scores(wildcards):
    """The score files of a sample's precisions (accuracy or mAP, by task)."""
    score = TASK_SCORES[SAMPLES[wildcards.model]["task"]][0]
    return [
        f"results/score/{wildcards.model}/{p}/{score}"
        for p in get_sample_precisions(wildcards)
    ]


def get_score_metrics(wildcards):
    """The metrics compared across a sample's precisions."""
    return list(TASK_SCORES[SAMPLES[wildcards.model]["task"]][1])


def get_graph_nms(wildcards):
    """NMS thresholds built into the SSD graph; empty when NMS runs on the host (so that
    changing them does not re-export the graph)."""
    return SSD_NMS if config["nms"]["place"] == "graph" else {}


def get_detect_sources(wildcards):
    """The downloaded archives a detection set is made from (none for generated scenes), or
    your own set's folder."""
    if config["data"]["detect"]["source"] == "folder":
        folder = config["data"]["detect"]["folder"]
        if not folder:
            raise PipelineError(
                "data.detect.folder",
                "empty, and data.detect.source is folder",
                "name the folder holding classes.txt, train/ and test/",
            )
        return {"folder": folder}
    if config["data"]["detect"]["source"] == "voc2007":
        folder = config["data"]["detect"]["voc2007"]["dir"]
        return {
            split: f"{folder}/{name}" for split, (name, _) in VOC2007_ARCHIVES.items()
        }
    return {}


def get_movielens_sources(wildcards):
    """The downloaded archive MovieLens 1M is read from (none for generated interactions)."""
    cfg = config["data"]["movielens"]
    if cfg["source"] == "ml-1m":
        return {"archive": f"{cfg['download']['dir']}/{ML1M_ARCHIVE[0]}"}
    return {}


def get_movielens_generation(wildcards):
    """The settings of generated interactions; empty for MovieLens 1M (so that they do not
    rerun it)."""
    cfg = config["data"]["movielens"]
    if cfg["source"] != "generated":
        return {}
    keys = ("users", "movies", "factors", "interactions", "popularity", "seed")
    return {key: cfg[key] for key in keys}


def get_served_graph(wildcards):
    """The graph of {precision} a serving sample serves: its weights sample's."""
    weights = SAMPLES[wildcards.model]["weights"]
    if wildcards.precision == "fp32":
        return f"results/onnx/{weights}/model.onnx"
    return f"results/precision/{weights}/{wildcards.precision}.onnx"


def get_served_model(wildcards):
    """What a serving sample serves in {precision}, by serve.backend: its weights sample's
    graph (ort), engine and its metadata (trt) or trained PyTorch weights (torch).

    Raises:
        PipelineError: torch with a precision the PyTorch model has no form of (int8).
    """
    backend = config["serve"]["backend"]
    check_backend(backend, wildcards.precision)
    weights = SAMPLES[wildcards.model]["weights"]
    if backend == "trt":
        plan = REGISTRY.engine(weights, wildcards.precision)
        return {"plan": plan, "meta": f"{plan}.json"}
    if backend == "torch":
        return {"weights": f"results/train/{weights}/weights.pt"}
    return {"onnx": get_served_graph(wildcards)}


def get_served_network(wildcards):
    """The NeuMF sizes the torch backend rebuilds the model with (train.ncf); empty for the
    other backends, whose files hold the network."""
    if config["serve"]["backend"] != "torch":
        return {}
    return {key: config["train"]["ncf"][key] for key in ("factors", "layers")}


def get_serve_mps(wildcards):
    """serve.mps (auto, true or false), refused at once where it cannot hold (true with the
    CPU backend ort)."""
    check_mps(config["serve"]["backend"], config["serve"]["mps"])
    return config["serve"]["mps"]


def get_serve_gpus():
    """1 when serving runs on a GPU (serve.backend trt or torch), else 0."""
    return int(config["serve"]["backend"] in GPU_BACKENDS)


def get_serve_code():
    """The code fingerprint of serving: its script and the runner of its backend only."""
    return code_of("serve_recommender", *BACKEND_MODULES[config["serve"]["backend"]])


def get_engine_top_k(wildcards):
    """The k of the TopK layer an onnx_topk engine gets (0: none), so that changing the
    cut-off rebuilds only those engines."""
    if SAMPLES[REGISTRY.sample_of(wildcards.model)]["builder"] == "onnx_topk":
        return config["score"]["recommend"]["k"]
    return 0


#: Config keys of train.frcnn that the graphs and the host steps share.
FRCNN_GEOMETRY = (
    "input_size",
    "pixel_mean",
    "anchor_sizes",
    "anchor_ratios",
    "proposals",
)


def get_detector(wildcards):
    """The detector of {model} (a sample or its graph; workflow.score.detect): its network
    and, for YOLOv3, its darknet cfg (and, for the official weights, the class names they
    detect), for Faster R-CNN its geometry."""
    sample = REGISTRY.sample_of(wildcards.model)
    network = SAMPLES[sample]["network"]
    if network == "yolov3":
        return {"network": network} | get_detector_files(wildcards)
    if network == "faster_rcnn":
        cfg = config["train"]["frcnn"]
        return {"network": network} | {key: cfg[key] for key in FRCNN_GEOMETRY}
    return {"network": network}


def get_detector_files(wildcards):
    """The files a detector reads besides its graph: a YOLOv3's cfg and, for the official
    weights, coco.names (inputs of the rules that take the detector)."""
    sample = REGISTRY.sample_of(wildcards.model)
    if SAMPLES[sample]["network"] != "yolov3":
        return {}
    if SAMPLES[sample]["train"] == "darknet":
        return {
            "cfg": f"{DARKNET_DIR}/yolov3.cfg",
            "names": f"{DARKNET_DIR}/coco.names",
        }
    if not YOLO_CFG:
        raise PipelineError(
            "train.yolo.cfg",
            f"no darknet cfg for data.detect.source {config['data']['detect']['source']}",
            "set train.yolo.cfg to a .cfg whose heads know your classes",
        )
    return {"cfg": YOLO_CFG}


def get_official_files(wildcards):
    """The (url, md5) of the official files a darknet sample reads, by role (cfg, weights,
    names), so that files placed by hand are checked; {} for weights trained here."""
    if SAMPLES[REGISTRY.sample_of(wildcards.model)]["train"] != "darknet":
        return {}
    roles = {"cfg": "yolov3.cfg", "weights": "yolov3.weights", "names": "coco.names"}
    return {role: list(OFFICIAL_YOLOV3[name]) for role, name in roles.items()}


def get_yolo_cfg(wildcards):
    """The darknet cfg of a YOLOv3 sample."""
    return get_detector_files(wildcards)["cfg"]


def get_detector_input(wildcards):
    """What of the detector its input preprocessing reads (so that a change of Faster
    R-CNN's proposal step does not remake the rpn graph's calibration images)."""
    detector = get_detector(wildcards)
    if detector["network"] == "faster_rcnn":
        return {key: detector[key] for key in ("network", "input_size", "pixel_mean")}
    return {key: value for key, value in detector.items() if key != "names"}


def get_rpn_graph(wildcards):
    """The FP32 rpn graph of a Faster R-CNN head graph's sample."""
    return f"results/onnx/{REGISTRY.sample_of(wildcards.model)}_rpn/model.onnx"


def get_darknet_weights(wildcards):
    """The darknet .weights a YOLOv3 sample's graph is converted from: trained here, or the
    official ones."""
    if SAMPLES[wildcards.model]["train"] == "darknet":
        return f"{DARKNET_DIR}/yolov3.weights"
    return f"results/train/{SAMPLES[wildcards.model]['weights']}/model.weights"


def get_trained_weights(wildcards):
    """The PyTorch weights a sample's network uses."""
    return f"results/train/{SAMPLES[wildcards.model]['weights']}/weights.pt"


def get_wts(wildcards):
    """The .wts (or .wts2) file a network-API sample is built from."""
    suffix = "wts" if config["weights"]["version"] == 1 else "wts2"
    return f"results/weights/{SAMPLES[wildcards.model]['weights']}/weights.{suffix}"


def get_network(wildcards):
    """The network (lenet, lenet_relu6 or mlp) of a sample."""
    return SAMPLES[wildcards.model]["network"]


def get_api_plugins(wildcards):
    """The plugin library a network-API build loads (its network has plugin layers), or none."""
    if SAMPLES[wildcards.model]["network"] == "lenet_fcplugin":
        return {"plugins": PLUGIN_LIBRARY}
    return {}


def get_images_sources(wildcards):
    """Your image folder (data.images.source folder), or nothing for the generated set."""
    cfg = config["data"]["images"]
    if cfg["source"] != "folder":
        return {}
    if not cfg["folder"]:
        raise PipelineError(
            "data.images.folder",
            "empty, and data.images.source is folder",
            "name the folder holding train/<class>/ and test/<class>/",
        )
    return {"folder": cfg["folder"]}


def get_images_class_index(wildcards):
    """ImageNet's class index, where data.images.classes is imagenet."""
    if config["data"]["images"]["classes"] != "imagenet":
        return {}
    return {"index": f"{IMAGENET_DIR}/imagenet_class_index.json"}


def get_imagenet_file(wildcards):
    """(url, checksum) of one ImageNet download."""
    return IMAGENET_FILES[wildcards.imagenet_file]


def get_torchvision_weights(wildcards):
    """torchvision's ImageNet weights file of a sample's network."""
    return f"{IMAGENET_DIR}/{TORCHVISION_WEIGHTS[get_network(wildcards)][0]}"


def get_torchvision_checksum(wildcards):
    """(url, checksum) of that file, so that a file placed by hand is checked."""
    return list(TORCHVISION_WEIGHTS[get_network(wildcards)][1:])


def get_text_sources(wildcards):
    """Your text file (data.text.source file), or nothing for the embedded text."""
    cfg = config["data"]["text"]
    if cfg["source"] != "file":
        return {}
    if not cfg["file"]:
        raise PipelineError(
            "data.text.file",
            "empty, and data.text.source is file",
            "name a UTF-8 text file",
        )
    return {"file": cfg["file"]}


def get_wts2(wildcards):
    """The dumpTFWts .wts2 of a character model's weights sample."""
    return f"results/weights/{SAMPLES[wildcards.model]['weights']}/weights.wts2"


def get_charrnn_score_model(wildcards):
    """What scores a character model: the engine on a GPU host; with ONNX Runtime the FP32
    graph (FP16 runs the description in float16 from the .wts2)."""
    if get_runtime(wildcards) == "trt":
        return get_score_model(wildcards)
    return {"onnx": f"results/onnx/{wildcards.model}/model.onnx"}


def get_base_width(wildcards):
    """The stem width of an image classifier's network (networks.<network>.base_width)."""
    return config["networks"][get_network(wildcards)]["base_width"]


def get_torch_graph(wildcards):
    """The PyTorch graph of the weights a Keras-written sample loads (compared with its own)."""
    return f"results/onnx/{SAMPLES[wildcards.model]['weights']}/model.onnx"


def get_profile_model(wildcards):
    """What a profile times: the score model and, for TensorRT, the engine's layer report
    (the layers' types)."""
    files = get_score_model(wildcards)
    if get_runtime(wildcards) == "trt":
        files["layers"] = f"engines/{wildcards.model}_{wildcards.precision}.layers.json"
    return files


def get_profiles(wildcards):
    """The per-layer profiles of a sample's precisions."""
    return [
        f"results/profile/{wildcards.model}/{p}.json"
        for p in get_sample_precisions(wildcards)
    ]


def get_byo_inputs(wildcards):
    """Your model's file and its data files (or folder)."""
    entry = config["byo"][wildcards.model]
    return {"model": entry["model"]} | dict(entry["data"])


def get_byo_settings(wildcards):
    """Your model's entry, defaults filled in."""
    return own_model_settings(config["byo"][wildcards.model])


def get_plain_graph(wildcards):
    """The trained graph a plugin sample's graph is made from: its weights sample's."""
    return f"results/onnx/{SAMPLES[wildcards.model]['weights']}/model.onnx"


def get_export_plugins(wildcards):
    """Whether a Keras sample's graph gets plugin nodes (its ReLU6 as the clip plugin)."""
    return SAMPLES[wildcards.model]["builder"] == "onnx_plugin"


def get_engine_gpus():
    """GPUs an engine build asks for, from config alone: 1 for full TensorRT (it builds for the
    GPU at hand), 0 for TensorRT-RTX (it builds ahead of time on a CPU); for auto, which the
    host that runs the job resolves and the submitting host cannot see, tensorrt.auto_engine_gpus.
    """
    choice = config["tensorrt"]["module"]
    if choice == "auto":
        return config["tensorrt"]["auto_engine_gpus"]
    return int(choice == "tensorrt")


def get_score_gpus(wildcards):
    """1 when scoring runs the TensorRT engine, else 0."""
    return int(get_runtime(wildcards) == "trt")


def get_translation_sources(wildcards):
    """The seed's WMT16 files and your training pairs (data.translation.source wmt16), or
    nothing for the generated number pairs."""
    if TRANSLATION["source"] != "wmt16":
        return {}
    prefix = TRANSLATION["wmt16"]["train"]
    if not prefix:
        raise PipelineError(
            "data.translation.wmt16.train",
            "empty, and data.translation.source is wmt16",
            "name the prefix of your BPE training pairs (<prefix>.de and <prefix>.en)",
        )
    files = {name: f"{WMT16_DIR}/{name}" for name in WMT16_FILES}
    return files | {"train_de": f"{prefix}.de", "train_en": f"{prefix}.en"}


def get_wmt16_file(wildcards):
    """(url, md5) of one of the seed's WMT16 files."""
    base = TRANSLATION["wmt16"]["base_url"]
    return [
        f"{base}{wildcards.wmt16_file}" if base else "",
        WMT16_FILES[wildcards.wmt16_file],
    ]


def get_nmt_bins(wildcards):
    """The seed's seven weight files of a translator's weights sample."""
    weights = SAMPLES[REGISTRY.sample_of(wildcards.model)]["weights"]
    return {name: f"results/weights/{weights}/{name}.bin" for name in NMT_FILES}


def get_nmt_score_model(wildcards):
    """What scores a translator: the engines on a GPU host; with ONNX Runtime the graphs of
    the precision (FP16: the FP32 graphs, the description run in float16 from the weight
    files)."""
    if get_runtime(wildcards) == "trt":
        return get_score_model(wildcards)
    precision = "fp32" if wildcards.precision == "fp16" else wildcards.precision
    return {
        f"{part}_onnx": precision_graph(graph, precision)
        for part, graph in zip(
            SAMPLES[wildcards.model]["parts"], REGISTRY.graphs(wildcards.model)
        )
    }


def get_ocr_part(wildcards):
    """The part (det or rec) of an OCR sample's graph."""
    return wildcards.model.removeprefix(f"{REGISTRY.sample_of(wildcards.model)}_")


def get_ocr_dictionary(wildcards):
    """The FP32 recogniser graph of an OCR sample, whose metadata holds its dictionary."""
    return f"results/onnx/{wildcards.model}_rec/model.onnx"


def get_ocr_dims(wildcards):
    """Profile ranges of an OCR graph's named dimensions: the detector's one page up to
    ocr.det.limit_side a side (opt: the page size), the recogniser's batch of lines (up to
    ocr.rec.batch_size) and width (ocr.rec.width to max_width)."""
    cfg = config["ocr"]
    if get_ocr_part(wildcards) == "det":
        width, height = cfg["data"]["page_size"]
        limit = cfg["det"]["limit_side"]
        return {
            "pages": [1, 1, 1],
            "height": [32, min(height, limit), limit],
            "width": [32, min(width, limit), limit],
        }
    rec = cfg["rec"]
    return {
        "lines": [1, rec["batch_size"], rec["batch_size"]],
        "width": [rec["width"], rec["width"], rec["max_width"]],
    }


def get_engine_dims(wildcards):
    """Ranges (min, opt, max) of the dynamic dimensions of a graph beyond the batch: your
    model's profile (byo.<name>.profile: by input, then axis position or dimension name); a
    translator's source length, beam and rows (batch x beam); an OCR graph's (get_ocr_dims);
    {} for other graphs."""
    if wildcards.model in config["byo"]:
        return config["byo"][wildcards.model].get("profile", {})
    if SAMPLES[REGISTRY.sample_of(wildcards.model)]["task"] == "ocr":
        return get_ocr_dims(wildcards)
    if SAMPLES[REGISTRY.sample_of(wildcards.model)]["network"] != "nmt":
        return {}
    beam = config["score"]["translate"]["beam"]
    longest = config["score"]["translate"]["max_source"]
    batch = config["engine"]["batch"]
    return {
        "source": [1, min(16, longest), longest],
        "beam": [1, beam, beam],
        "rows": [batch["min"], batch["opt"] * beam, batch["max"] * beam],
    }


def get_agreement_inputs(wildcards):
    """What a precision agreement reads besides the graphs: its feeds, your evaluation feeds
    (agreement.feeds, {model} filled in) where set, else your own model's evaluation feeds
    (byo), else the graph's calibration batches; and your metric's file where
    agreement.metric names one (path/to/file.py:function): editing it reruns the job."""
    own = config["agreement"]["feeds"]
    if own:
        feeds = own.format(model=wildcards.model)
    elif wildcards.model in config["byo"]:
        feeds = f"results/data/byo/{wildcards.model}/evaluation"
    else:
        feeds = f"results/calibrate/{wildcards.model}/batches"
    metric = config["agreement"]["metric"].rpartition(":")[0]
    return {"feeds": feeds, "metric": [metric] if metric.endswith(".py") else []}
