"""What the rules ask of the config and the registry: the paths of a job's inputs, the values
of its params that the config decides (profile ranges, detector geometry, which calibrator,
which runtime), and the config-derived names rules share (data folders, precisions, engine
build options).

``rules/common.smk`` makes one :class:`Plan` from the validated config and the registry; rules
name its methods as input functions and params (``input: unpack(PLAN.score_model)``). Input
functions only build paths: nothing here reads a file or imports torch or TensorRT.
"""

from collections.abc import Callable
from typing import Any

from workflow.data.mnist import MNIST_FILES
from workflow.data.movielens import ML1M_ARCHIVE
from workflow.data.objects import IMAGENET_CLASS_INDEX
from workflow.data.translation import WMT16_FILES
from workflow.data.voc2007 import VOC2007_ARCHIVES
from workflow.errors import PipelineError
from workflow.formats.darknet import OFFICIAL_YOLOV3
from workflow.models.detectors import detector_class
from workflow.models.imagenet import TORCHVISION_WEIGHTS
from workflow.netdef.nmt import FILES as NMT_FILES
from workflow.samples import (
    TASK_SCORES,
    Registry,
    own_model_settings,
    precision_graph,
    summary_files,
)
from workflow.score.serve import GPU_BACKENDS, check_backend, check_mps
from workflow.trt.config import BuildConfig
from workflow.trt.module import tensorrt_identity

#: A job's wildcards as Snakemake hands them to input functions (attributes: model, precision,
#: file, ...); tests pass a ``types.SimpleNamespace``.
Wildcards = Any

#: How the Snakemake report shows a sample's result, by file name: its subcategory and the
#: labels beside the sample (and the precision, where the path has one); a folder's files
#: match the pattern ``{name}.png``.
REPORTED = {
    "hello.txt": ("Hello world", {"shows": "top five classes"}),
    "precisions.png": ("Precisions", {"shows": "precision comparison"}),
    "drawn": ("Detections", {"image": "{name}"}),
    "recommendations.txt": ("Recommendations", {"shows": "recommendations"}),
    "profile.png": ("Profiles", {"shows": "per-layer profile"}),
    "generated.txt": ("Generated text", {"shows": "generated text"}),
    "translations.txt": ("Translations", {"shows": "translations"}),
}


class Plan:
    """The config's answers to the rules' questions, for one validated config and registry.

    Args:
        config: the validated workflow config (schema defaults filled in).
        registry: the sample registry, your own models (config ``byo``) included.
    """

    def __init__(self, config: dict[str, Any], registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.samples = registry.samples
        data = config["data"]
        #: The MNIST data stage's idx files.
        self.mnist_data = "results/data/mnist"
        #: The image classifiers' data tree (classes.txt, train/<class>/, test/<class>/).
        self.images_data = f"results/data/images-{data['images']['source']}"
        #: Where ImageNet's files are downloaded to (or placed by hand), and those files by
        #: name: (url, checksum).
        self.imagenet_dir = data["images"]["download"]["dir"]
        self.imagenet_files = {
            "imagenet_class_index.json": IMAGENET_CLASS_INDEX,
            **{name: (url, checksum) for name, url, checksum in TORCHVISION_WEIGHTS.values()},
        }
        #: Whether the image classifiers take torchvision's ImageNet weights instead of training.
        self.imagenet_weights = config["train"]["images"]["weights"] == "imagenet"
        #: What every image classifier's rule needs to turn an image into the network's input.
        self.image_input = {
            "preprocess": data["images"]["preprocess"],
            "input_size": data["images"]["input_size"],
        }
        #: The character model's text (train.txt, test.txt, vocab.json), by source.
        self.text_data = f"results/data/text-{data['text']['source']}"
        #: The translator's sentence pairs (train/test.<lang>, vocab.<lang>), by source.
        self.translation = data["translation"]
        self.translation_data = f"results/data/translation-{self.translation['source']}"
        #: The translator's languages (source, target).
        self.langs = [self.translation["source_lang"], self.translation["target_lang"]]
        #: Where the seed's WMT16 files are downloaded to (or placed by hand).
        self.wmt16_dir = self.translation["wmt16"]["dir"]
        #: The detection set: classes.txt and the train/ and test/ folders.
        self.detect_data = f"results/data/{data['detect']['source']}"
        #: The recommenders' interactions (interactions.npz, titles.txt), by source.
        self.movielens_data = f"results/data/movielens-{data['movielens']['source']}"
        #: The darknet cfg of the YOLOv3 trained here: the configured one, else the project's
        #: for the detection set ("" for your own set: it needs one whose heads know its classes).
        self.darknet_cfg = config["train"]["yolo"]["cfg"] or {
            "shapes": "config/darknet/yolov3-shapes.cfg",
            "voc2007": "config/darknet/yolov3-voc.cfg",
        }.get(data["detect"]["source"], "")
        #: Where the official darknet files are downloaded to (or placed by hand).
        self.darknet_dir = config["train"]["darknet"]["dir"]
        #: The SSD's NMS thresholds (confidence, iou, top_k, keep_top_k), without where NMS runs.
        self.ssd_nms = {k: v for k, v in config["nms"].items() if k != "place"}
        #: "<module> <version>" of the TensorRT that builds engines: a rule param, so a new
        #: TensorRT rebuilds them.
        self.tensorrt = tensorrt_identity(config["tensorrt"]["module"])
        #: The plugin library the plugin samples' engines load (rule plugin_library).
        self.plugin_library = "results/plugins/libtrt_samples_plugins.so"
        #: The OCR samples' rendered text: test/ and calib/ splits.
        self.ocr_data = "results/data/ocr"
        #: The precisions of graphs, engines and scores: the chosen ones, and fp8 and int4w
        #: (opt in: their targets are built on request even when not chosen).
        self.precisions = "|".join(dict.fromkeys([*config["precisions"], "fp8", "int4w"]))
        #: ... and what an ONNX-parser engine may be built in besides: mixed, the graph of rule
        #: precision_mixed (results/precision/<model>/mixed.onnx), on request only. It is no
        #: registry precision (no rule all target, no score, no summary row), so only the
        #: engine rules take it.
        self.engine_precisions = f"{self.precisions}|mixed"
        #: Every file the pipeline may download, by the path it is stored at (the rules
        #: data_download_*): its url, md5 (or ``sha256:<prefix>``) and network timeout.
        self.downloads = self._downloads()
        #: An engine build's outputs: the plan, its metadata and its layer report.
        self.engine_files = {
            "plan": "engines/{model}_{precision}.plan",
            "meta": "engines/{model}_{precision}.plan.json",
            "layers": "engines/{model}_{precision}.layers.json",
        }
        #: The params that say which classifier network a rule builds (by sample) and the
        #: MLP's sizes.
        self.network_params = {
            "network": self.network,
            "mlp_sizes": config["networks"]["mlp"]["sizes"],
        }
        #: The params of a detector's scoring: its network and geometry, the official files it
        #: reads (checked where placed by hand), where NMS runs and its thresholds.
        self.detector_params = {
            "official": self.official_files,
            "detector": self.detector,
            "place": config["nms"]["place"],
            "nms": self.ssd_nms,
        }
        #: The params that say where the INT8 ranges come from and which calibrator made them.
        self.calibration_params = {
            "source": config["calibration"]["source"],
            "algorithm": self.calibration_algorithm,
        }

    def mnist(self, split: str) -> dict[str, str]:
        """The MNIST idx files of a split (``train`` or ``test``), as inputs ``images`` and
        ``labels``."""
        return {
            "images": f"{self.mnist_data}/{split}-images.idx",
            "labels": f"{self.mnist_data}/{split}-labels.idx",
        }

    def detect_set(self, *names: str) -> dict[str, str]:
        """Parts of the detection set as inputs by name: ``train``, ``test`` (folders) and
        ``classes`` (classes.txt)."""
        files = {"train": "train", "test": "test", "classes": "classes.txt"}
        return {name: f"{self.detect_data}/{files[name]}" for name in names}

    def report_flags(
        self, path: str, subcategory: str | None = None, **labels: str
    ) -> dict[str, Any]:
        """The arguments of Snakemake's ``report()`` for a sample's result at ``path``: caption
        report/sample.rst, the sample as category (:meth:`report_category`), subcategory and
        labels from :data:`REPORTED` by the file's name unless given.

        Args:
            path: the output's path pattern (``{model}``, and ``{precision}`` where it has one).
            subcategory: the report's subcategory, in place of the table's.
            **labels: labels in place of the table's (sample and precision are added).
        """
        name = str(path).rstrip("/").rsplit("/", 1)[-1]
        if subcategory is None:
            subcategory, labels = REPORTED[name][0], labels or REPORTED[name][1]
        precision = {"precision": "{precision}"} if "{precision}" in str(path) else {}
        return {
            "caption": "../report/sample.rst",
            "category": self.report_category,
            "subcategory": subcategory,
            "labels": {"sample": "{model}", **precision, **labels},
            "patterns": ["{name}.png"] if name == "drawn" else [],
        }

    def _downloads(self) -> dict[str, dict[str, Any]]:
        data, train = self.config["data"], self.config["train"]
        mnist, voc = data["mnist"]["download"], data["detect"]["voc2007"]
        ml1m, wmt16 = data["movielens"]["download"], self.translation["wmt16"]
        found: dict[str, dict[str, Any]] = {}

        def add(folder, name, url, md5, timeout_s):
            found[f"{folder}/{name}"] = {"url": url, "md5": md5, "timeout_s": timeout_s}

        for name, md5 in MNIST_FILES.items():
            add(mnist["dir"], name, mnist["base_url"] + name, md5, mnist["timeout_s"])
        for name, md5 in VOC2007_ARCHIVES.values():
            add(voc["dir"], name, voc["base_url"] + name, md5, voc["timeout_s"])
        name, md5 = ML1M_ARCHIVE
        add(ml1m["dir"], name, ml1m["url"], md5, ml1m["timeout_s"])
        for name, (url, md5) in OFFICIAL_YOLOV3.items():
            add(self.darknet_dir, name, url, md5, train["darknet"]["timeout_s"])
        timeout_s = data["images"]["download"]["timeout_s"]
        for name, (url, checksum) in self.imagenet_files.items():
            add(self.imagenet_dir, name, url, checksum, timeout_s)
        for name, md5 in WMT16_FILES.items():
            url = f"{wmt16['base_url']}{name}" if wmt16["base_url"] else ""
            add(self.wmt16_dir, name, url, md5, wmt16["timeout_s"])
        return found

    def download(self, key: str) -> Callable[..., Any]:
        """A params function giving ``key`` (url, md5, timeout_s) of the download a job
        writes (its output ``raw``, a path of :attr:`downloads`)."""
        return lambda wildcards, output: self.downloads[output.raw][key]

    def final_targets(self):
        """Every chosen sample in every precision its builder makes (registry rows): its engine,
        its hello-world run or drawn detections, its score and the precision comparison; and the
        results summary of them all."""
        return [
            target
            for sample in self.config["samples"]
            for target in self.registry.targets(sample, self.config["precisions"])
        ] + ["results/summary.json"]

    def summary_sources(self):
        """Per chosen sample, per precision it builds, the files the summary reads."""
        return {
            sample: {
                precision: summary_files(self.registry, sample, precision)
                for precision in self.config["precisions"]
                if precision in self.samples[sample]["precisions"]
            }
            for sample in self.config["samples"]
        }

    def summary_inputs(self, wildcards: Wildcards):
        """Those files as a list (the summary rule's input)."""
        found = []
        for by_precision in self.summary_sources().values():
            for files in by_precision.values():
                found.append(files["score"])
                for engine in files["engines"]:
                    found += [engine[key] for key in sorted(engine)]
        return sorted(set(found))

    def report_category(self, wildcards: Wildcards):
        """The Snakemake report's category of a result: its sample."""
        return self.registry.sample_of(wildcards.model)

    def mnist_sources(self, wildcards: Wildcards):
        """Input files of the MNIST data stage for the configured source."""
        cfg = self.config["data"]["mnist"]
        if cfg["source"] == "mnist":
            return {name: f"{cfg['download']['dir']}/{name}" for name in MNIST_FILES}
        if cfg["source"] == "idx":
            return {"images": cfg["idx"]["images"], "labels": cfg["idx"]["labels"]}
        return {}

    def precision_graph(self, wildcards: Wildcards):
        """The ONNX graph of {model} (a graph) in {precision}."""
        return precision_graph(wildcards.model, wildcards.precision)

    def calibration_algorithm(self, wildcards: Wildcards):
        """The calibrator of a graph: its sample's entry in calibration.per_sample, else the
        global one."""
        cfg = self.config["calibration"]
        return cfg["per_sample"].get(self.registry.sample_of(wildcards.model), cfg["algorithm"])

    def int8_ranges(self, wildcards: Wildcards):
        """The dynamic ranges of the INT8 graph: the pipeline's table, or the user's file."""
        cfg = self.config["calibration"]
        if cfg["source"] == "table":
            return cfg["table"]
        if cfg["source"] == "ranges":
            return cfg["ranges"]
        return f"results/calibrate/{wildcards.model}/calibration.table"

    def fp8_algorithm(self, wildcards: Wildcards):
        """The calibrator of a graph's FP8 ranges: fp8.algorithm (for your own table or range
        file, the INT8 one: the file is the same)."""
        if self.config["calibration"]["source"] != "calibrate":
            return self.calibration_algorithm(wildcards)
        return self.config["fp8"]["algorithm"]

    def fp8_ranges(self, wildcards: Wildcards):
        """The dynamic ranges of the FP8 graph: the INT8 graph's where the calibrators agree (or
        where they come from your file), else the FP8 calibration's table."""
        if self.fp8_algorithm(wildcards) == self.calibration_algorithm(wildcards):
            return self.int8_ranges(wildcards)
        return f"results/calibrate/{wildcards.model}/calibration_fp8.table"

    def mixed_algorithm(self, wildcards: Wildcards):
        """The calibrator of the mixed graph's ranges: mixed.algorithm (for your own table or
        range file, the INT8 one: the file is the same)."""
        if self.config["calibration"]["source"] != "calibrate":
            return self.calibration_algorithm(wildcards)
        return self.config["mixed"]["algorithm"]

    def _mixed_shares_int8(self, wildcards: Wildcards) -> bool:
        return self.mixed_algorithm(wildcards) == self.calibration_algorithm(wildcards)

    def mixed_ranges(self, wildcards: Wildcards):
        """The dynamic ranges of the mixed graph: the INT8 graph's where the calibrators agree
        (or where they come from your file), else the mixed calibration's table."""
        if self._mixed_shares_int8(wildcards):
            return self.int8_ranges(wildcards)
        return f"results/calibrate/{wildcards.model}/calibration_mixed.table"

    def mixed_sensitivity(self, wildcards: Wildcards):
        """The sensitivity ranking of the mixed graph's ranges: the INT8 graph's report where
        the ranges are the same, else the report of the mixed ranges."""
        if self._mixed_shares_int8(wildcards):
            return f"results/precision/{wildcards.model}/int8.sensitivity.json"
        return f"results/precision/{wildcards.model}/mixed.sensitivity.json"

    def mixed(self, key: str):
        """A mixed setting of a graph (an input function for params): its entry in
        mixed.per_model, else the section's."""

        def lookup(wildcards: Wildcards):
            own = self.config["mixed"]["per_model"].get(wildcards.model, {})
            return own.get(key, self.config["mixed"][key])

        return lookup

    def int4_batches(self, wildcards: Wildcards):
        """The calibration batches the AWQ search of an INT4 weight-only graph reads (a sample
        calibrated for INT8, int4.awq_grid set); else none: round to nearest."""
        sample = self.registry.sample_of(wildcards.model)
        if self.config["int4"]["awq_grid"] and "int8" in self.samples[sample]["precisions"]:
            return {"batches": f"results/calibrate/{wildcards.model}/batches"}
        return {}

    def int4_block(self, wildcards: Wildcards):
        """int4.block_size for an int4w network-API build or score, else 0 (so that changing it
        rebuilds only int4w)."""
        return self.config["int4"]["block_size"] if wildcards.precision == "int4w" else 0

    def api_reference(self, wildcards: Wildcards):
        """The ONNX graph a network-API build is checked against and named in its metadata: the
        ONNX emission of the same description, or for int4w its INT4 weight-only graph (the one
        ONNX Runtime scores), whose INT4 values and scales the build checks are its own."""
        if wildcards.precision == "int4w":
            return f"results/precision/{wildcards.model}/int4w.onnx"
        return f"results/onnx/{wildcards.model}/model.onnx"

    def runtime(self, wildcards: Wildcards):
        """The runtime that scores a sample: the configured one; TensorRT for a refit sample."""
        if self.samples[wildcards.model]["builder"] == "refit":
            return "trt"
        return self.config["score"]["runtime"]

    def score_module(self, wildcards: Wildcards):
        """The TensorRT module choice, where scoring runs TensorRT ("" otherwise, so that changing
        it does not rescore what ONNX Runtime scored)."""
        return self.config["tensorrt"]["module"] if self.runtime(wildcards) == "trt" else ""

    def score_model(self, wildcards: Wildcards):
        """What the runtime runs: the ONNX graph (ort) or the engine and its metadata (trt); for
        a split sample, those of each part, keyed <part>_onnx, <part>_plan, <part>_meta."""
        trt = self.runtime(wildcards) == "trt"
        parts = self.samples[wildcards.model].get("parts", [""])
        files = {}
        for part, graph, plan in zip(
            parts,
            self.registry.graphs(wildcards.model),
            self.registry.engines(wildcards.model, wildcards.precision),
            strict=True,
        ):
            prefix = f"{part}_" if part else ""
            if trt:
                files |= {f"{prefix}plan": plan, f"{prefix}meta": f"{plan}.json"}
            else:
                files[f"{prefix}onnx"] = precision_graph(graph, wildcards.precision)
        return files

    def sample_precisions(self, wildcards: Wildcards):
        """The chosen precisions a sample's builder makes."""
        made = self.samples[wildcards.model]["precisions"]
        return [p for p in self.config["precisions"] if p in made]

    def precision_scores(self, wildcards: Wildcards):
        """The score files of a sample's precisions (accuracy or mAP, by task)."""
        score = TASK_SCORES[self.samples[wildcards.model]["task"]][0]
        return [
            f"results/score/{wildcards.model}/{p}/{score}"
            for p in self.sample_precisions(wildcards)
        ]

    def score_metrics(self, wildcards: Wildcards):
        """The metrics compared across a sample's precisions."""
        return list(TASK_SCORES[self.samples[wildcards.model]["task"]][1])

    def graph_nms(self, wildcards: Wildcards):
        """NMS thresholds built into the SSD graph; empty when NMS runs on the host (so that
        changing them does not re-export the graph)."""
        return self.ssd_nms if self.config["nms"]["place"] == "graph" else {}

    def detect_sources(self, wildcards: Wildcards):
        """The downloaded archives a detection set is made from (none for generated scenes), or
        your own set's folder."""
        if self.config["data"]["detect"]["source"] == "folder":
            fix = "name the folder holding classes.txt, train/ and test/"
            return self._own_input("detect", "folder", "folder", fix)
        if self.config["data"]["detect"]["source"] == "voc2007":
            folder = self.config["data"]["detect"]["voc2007"]["dir"]
            return {split: f"{folder}/{name}" for split, (name, _) in VOC2007_ARCHIVES.items()}
        return {}

    def movielens_sources(self, wildcards: Wildcards):
        """The downloaded archive MovieLens 1M is read from (none for generated interactions)."""
        cfg = self.config["data"]["movielens"]
        if cfg["source"] == "ml-1m":
            return {"archive": f"{cfg['download']['dir']}/{ML1M_ARCHIVE[0]}"}
        return {}

    def movielens_generation(self, wildcards: Wildcards):
        """The settings of generated interactions; empty for MovieLens 1M (so that they do not
        rerun it)."""
        cfg = self.config["data"]["movielens"]
        if cfg["source"] != "generated":
            return {}
        keys = ("users", "movies", "factors", "interactions", "popularity", "seed")
        return {key: cfg[key] for key in keys}

    def served_graph(self, wildcards: Wildcards):
        """The graph of {precision} a serving sample serves: its weights sample's."""
        weights = self.samples[wildcards.model]["weights"]
        if wildcards.precision == "fp32":
            return f"results/onnx/{weights}/model.onnx"
        return f"results/precision/{weights}/{wildcards.precision}.onnx"

    def served_model(self, wildcards: Wildcards):
        """What a serving sample serves in {precision}, by serve.backend: its weights sample's
        graph (ort), engine and its metadata (trt) or trained PyTorch weights (torch).

        Raises:
            PipelineError: torch with a precision the PyTorch model has no form of (int8).
        """
        backend = self.config["serve"]["backend"]
        check_backend(backend, wildcards.precision)
        weights = self.samples[wildcards.model]["weights"]
        if backend == "trt":
            plan = self.registry.engine(weights, wildcards.precision)
            return {"plan": plan, "meta": f"{plan}.json"}
        if backend == "torch":
            return {"weights": f"results/train/{weights}/weights.pt"}
        return {"onnx": self.served_graph(wildcards)}

    def served_network(self, wildcards: Wildcards):
        """The NeuMF sizes the torch backend rebuilds the model with (train.ncf); empty for the
        other backends, whose files hold the network."""
        if self.config["serve"]["backend"] != "torch":
            return {}
        return {key: self.config["train"]["ncf"][key] for key in ("factors", "layers")}

    def serve_mps(self, wildcards: Wildcards):
        """serve.mps (auto, true or false), refused at once where it cannot hold (true with the
        CPU backend ort)."""
        check_mps(self.config["serve"]["backend"], self.config["serve"]["mps"])
        return self.config["serve"]["mps"]

    def serve_gpus(self):
        """1 when serving runs on a GPU (serve.backend trt or torch), else 0."""
        return int(self.config["serve"]["backend"] in GPU_BACKENDS)

    def engine_build(self, wildcards: Wildcards):
        """Engine build options of {model}'s sample (workflow.trt.config.BuildConfig: the
        engine section, its engine.per_sample entry over it), one param of every build."""
        sample = self.registry.sample_of(wildcards.model)
        return BuildConfig.from_config(self.config, sample).as_params()

    def engine_top_k(self, wildcards: Wildcards):
        """The k of the TopK layer an onnx_topk engine gets (0: none), so that changing the
        cut-off rebuilds only those engines."""
        if self.samples[self.registry.sample_of(wildcards.model)]["builder"] == "onnx_topk":
            return self.config["score"]["recommend"]["k"]
        return 0

    def detector(self, wildcards: Wildcards):
        """The spec of {model}'s detector (a sample or its graph; workflow.models.detector):
        its network, the files it reads (detector_files) and the settings of its config
        section (Faster R-CNN's geometry)."""
        network = self.samples[self.registry.sample_of(wildcards.model)]["network"]
        cls = detector_class(network)
        spec = {"network": network} | self.detector_files(wildcards)
        if cls.config_section:
            section = self.config["train"][cls.config_section]
            spec |= {key: section[key] for key in cls.config_keys}
        return spec

    def detector_files(self, wildcards: Wildcards):
        """The files a detector reads besides its graph: the darknet cfg of one built from a
        cfg and, for the official weights, coco.names (inputs of the rules that take the
        detector)."""
        sample = self.registry.sample_of(wildcards.model)
        if not detector_class(self.samples[sample]["network"]).darknet_cfg:
            return {}
        if self.samples[sample]["train"] == "darknet":
            return {
                "cfg": f"{self.darknet_dir}/yolov3.cfg",
                "names": f"{self.darknet_dir}/coco.names",
            }
        if not self.darknet_cfg:
            raise PipelineError(
                "train.yolo.cfg",
                f"no darknet cfg for data.detect.source {self.config['data']['detect']['source']}",
                "set train.yolo.cfg to a .cfg whose heads know your classes",
            )
        return {"cfg": self.darknet_cfg}

    def official_files(self, wildcards: Wildcards):
        """The (url, md5) of the official files a darknet sample reads, by role (cfg, weights,
        names), so that files placed by hand are checked; {} for weights trained here."""
        if self.samples[self.registry.sample_of(wildcards.model)]["train"] != "darknet":
            return {}
        roles = {"cfg": "yolov3.cfg", "weights": "yolov3.weights", "names": "coco.names"}
        return {role: list(OFFICIAL_YOLOV3[name]) for role, name in roles.items()}

    def yolo_cfg(self, wildcards: Wildcards):
        """The darknet cfg of a YOLOv3 sample."""
        return self.detector_files(wildcards)["cfg"]

    def detector_input(self, wildcards: Wildcards):
        """What of the detector spec its input preprocessing reads (so that a change of Faster
        R-CNN's proposal step does not remake the rpn graph's calibration images)."""
        spec = self.detector(wildcards)
        keys = ("network", *detector_class(spec["network"]).input_keys)
        return {key: spec[key] for key in keys}

    def rpn_graph(self, wildcards: Wildcards):
        """The FP32 rpn graph of a Faster R-CNN head graph's sample."""
        return f"results/onnx/{self.registry.sample_of(wildcards.model)}_rpn/model.onnx"

    def darknet_weights(self, wildcards: Wildcards):
        """The darknet .weights a YOLOv3 sample's graph is converted from: trained here, or the
        official ones."""
        if self.samples[wildcards.model]["train"] == "darknet":
            return f"{self.darknet_dir}/yolov3.weights"
        return f"results/train/{self.samples[wildcards.model]['weights']}/model.weights"

    def trained_weights(self, wildcards: Wildcards):
        """The PyTorch weights a sample's network uses."""
        return f"results/train/{self.samples[wildcards.model]['weights']}/weights.pt"

    def wts(self, wildcards: Wildcards):
        """The .wts (or .wts2) file a network-API sample is built from."""
        suffix = "wts" if self.config["weights"]["version"] == 1 else "wts2"
        return f"results/weights/{self.samples[wildcards.model]['weights']}/weights.{suffix}"

    def network(self, wildcards: Wildcards):
        """The network (lenet, lenet_relu6 or mlp) of a sample."""
        return self.samples[wildcards.model]["network"]

    def api_plugins(self, wildcards: Wildcards):
        """The plugin library a network-API build loads (its network has plugin layers), or none."""
        if self.samples[wildcards.model]["network"] == "lenet_fcplugin":
            return {"plugins": self.plugin_library}
        return {}

    def images_sources(self, wildcards: Wildcards):
        """Your image folder (data.images.source folder), or nothing for the generated set."""
        fix = "name the folder holding train/<class>/ and test/<class>/"
        return self._own_input("images", "folder", "folder", fix)

    def images_class_index(self, wildcards: Wildcards):
        """ImageNet's class index, where data.images.classes is imagenet."""
        if self.config["data"]["images"]["classes"] != "imagenet":
            return {}
        return {"index": f"{self.imagenet_dir}/imagenet_class_index.json"}

    def torchvision_weights(self, wildcards: Wildcards):
        """torchvision's ImageNet weights file of a sample's network."""
        return f"{self.imagenet_dir}/{TORCHVISION_WEIGHTS[self.network(wildcards)][0]}"

    def torchvision_checksum(self, wildcards: Wildcards):
        """(url, checksum) of that file, so that a file placed by hand is checked."""
        return list(TORCHVISION_WEIGHTS[self.network(wildcards)][1:])

    def text_sources(self, wildcards: Wildcards):
        """Your text file (data.text.source file), or nothing for the embedded text."""
        return self._own_input("text", "file", "file", "name a UTF-8 text file")

    def _own_input(self, section: str, source: str, key: str, fix: str) -> dict[str, str]:
        """``{key: path}``: the file or folder of yours that data.<section>.<key> names, where
        data.<section>.source is ``source``; nothing for another source.

        Raises:
            PipelineError: the source is ``source`` and the path is empty (``fix`` says what
                to name).
        """
        cfg = self.config["data"][section]
        if cfg["source"] != source:
            return {}
        if not cfg[key]:
            raise PipelineError(
                f"data.{section}.{key}", f"empty, and data.{section}.source is {source}", fix
            )
        return {key: cfg[key]}

    def wts2(self, wildcards: Wildcards):
        """The dumpTFWts .wts2 of a character model's weights sample."""
        return f"results/weights/{self.samples[wildcards.model]['weights']}/weights.wts2"

    def charrnn_score_model(self, wildcards: Wildcards):
        """What scores a character model: the engine on a GPU host; with ONNX Runtime the FP32
        graph (FP16 runs the description in float16 from the .wts2)."""
        if self.runtime(wildcards) == "trt":
            return self.score_model(wildcards)
        return {"onnx": f"results/onnx/{wildcards.model}/model.onnx"}

    def base_width(self, wildcards: Wildcards):
        """The stem width of an image classifier's network (networks.<network>.base_width)."""
        return self.config["networks"][self.network(wildcards)]["base_width"]

    def torch_graph(self, wildcards: Wildcards):
        """The PyTorch graph of the weights a Keras-written sample loads (compared with its own)."""
        return f"results/onnx/{self.samples[wildcards.model]['weights']}/model.onnx"

    def profile_model(self, wildcards: Wildcards):
        """What a profile times: the score model and, for TensorRT, the engine's layer report
        (the layers' types)."""
        files = self.score_model(wildcards)
        if self.runtime(wildcards) == "trt":
            files["layers"] = f"engines/{wildcards.model}_{wildcards.precision}.layers.json"
        return files

    def profiles(self, wildcards: Wildcards):
        """The per-layer profiles of a sample's precisions."""
        return [
            f"results/profile/{wildcards.model}/{p}.json" for p in self.sample_precisions(wildcards)
        ]

    def byo_inputs(self, wildcards: Wildcards):
        """Your model's file and its data files (or folder)."""
        entry = self.config["byo"][wildcards.model]
        return {"model": entry["model"]} | dict(entry["data"])

    def byo_settings(self, wildcards: Wildcards):
        """Your model's entry, defaults filled in."""
        return own_model_settings(self.config["byo"][wildcards.model])

    def plain_graph(self, wildcards: Wildcards):
        """The trained graph a plugin sample's graph is made from: its weights sample's."""
        return f"results/onnx/{self.samples[wildcards.model]['weights']}/model.onnx"

    def export_plugins(self, wildcards: Wildcards):
        """Whether a Keras sample's graph gets plugin nodes (its ReLU6 as the clip plugin)."""
        return self.samples[wildcards.model]["builder"] == "onnx_plugin"

    def engine_gpus(self):
        """GPUs an engine build asks for, from config alone: 1 for full TensorRT (it builds for
        the GPU at hand), 0 for TensorRT-RTX (it builds ahead of time on a CPU); for auto, which
        the host that runs the job resolves and the submitting host cannot see,
        tensorrt.auto_engine_gpus."""
        choice = self.config["tensorrt"]["module"]
        if choice == "auto":
            return self.config["tensorrt"]["auto_engine_gpus"]
        return int(choice == "tensorrt")

    def score_gpus(self, wildcards: Wildcards):
        """1 when scoring runs the TensorRT engine, else 0."""
        return int(self.runtime(wildcards) == "trt")

    def translation_sources(self, wildcards: Wildcards):
        """The seed's WMT16 files and your training pairs (data.translation.source wmt16), or
        nothing for the generated number pairs."""
        if self.translation["source"] != "wmt16":
            return {}
        prefix = self.translation["wmt16"]["train"]
        if not prefix:
            raise PipelineError(
                "data.translation.wmt16.train",
                "empty, and data.translation.source is wmt16",
                "name the prefix of your BPE training pairs (<prefix>.de and <prefix>.en)",
            )
        files = {name: f"{self.wmt16_dir}/{name}" for name in WMT16_FILES}
        return files | {"train_de": f"{prefix}.de", "train_en": f"{prefix}.en"}

    def nmt_bins(self, wildcards: Wildcards):
        """The seed's seven weight files of a translator's weights sample."""
        weights = self.samples[self.registry.sample_of(wildcards.model)]["weights"]
        return {name: f"results/weights/{weights}/{name}.bin" for name in NMT_FILES}

    def nmt_score_model(self, wildcards: Wildcards):
        """What scores a translator: the engines on a GPU host; with ONNX Runtime the graphs of
        the precision (FP16: the FP32 graphs, the description run in float16 from the weight
        files)."""
        if self.runtime(wildcards) == "trt":
            return self.score_model(wildcards)
        precision = "fp32" if wildcards.precision == "fp16" else wildcards.precision
        return {
            f"{part}_onnx": precision_graph(graph, precision)
            for part, graph in zip(
                self.samples[wildcards.model]["parts"],
                self.registry.graphs(wildcards.model),
                strict=True,
            )
        }

    def ocr_part(self, wildcards: Wildcards):
        """The part (det or rec) of an OCR sample's graph."""
        return wildcards.model.removeprefix(f"{self.registry.sample_of(wildcards.model)}_")

    def ocr_dictionary(self, wildcards: Wildcards):
        """The FP32 recogniser graph of an OCR sample, whose metadata holds its dictionary."""
        return f"results/onnx/{wildcards.model}_rec/model.onnx"

    def ocr_dims(self, wildcards: Wildcards):
        """Profile ranges of an OCR graph's named dimensions: the detector's one page up to
        ocr.det.limit_side a side (opt: the page size), the recogniser's batch of lines (up to
        ocr.rec.batch_size) and width (ocr.rec.width to max_width)."""
        cfg = self.config["ocr"]
        if self.ocr_part(wildcards) == "det":
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

    def engine_dims(self, wildcards: Wildcards):
        """Ranges (min, opt, max) of the dynamic dimensions of a graph beyond the batch: your
        model's profile (byo.<name>.profile: by input, then axis position or dimension name); a
        translator's source length, beam and rows (batch x beam); an OCR graph's (:meth:`ocr_dims`);
        {} for other graphs."""
        if wildcards.model in self.config["byo"]:
            return self.config["byo"][wildcards.model].get("profile", {})
        if self.samples[self.registry.sample_of(wildcards.model)]["task"] == "ocr":
            return self.ocr_dims(wildcards)
        if self.samples[self.registry.sample_of(wildcards.model)]["network"] != "nmt":
            return {}
        beam = self.config["score"]["translate"]["beam"]
        longest = self.config["score"]["translate"]["max_source"]
        low, opt, high = self.engine_build(wildcards)["batch"]
        return {
            "source": [1, min(16, longest), longest],
            "beam": [1, beam, beam],
            "rows": [low, opt * beam, high * beam],
        }

    def agreement_inputs(self, wildcards: Wildcards):
        """What a precision agreement reads besides the graphs: its feeds, your evaluation feeds
        (agreement.feeds, {model} filled in) where set, else your own model's evaluation feeds
        (byo), else the graph's calibration batches; and your metric's file where
        agreement.metric names one (path/to/file.py:function): editing it reruns the job."""
        own = self.config["agreement"]["feeds"]
        if own:
            feeds = own.format(model=wildcards.model)
        elif wildcards.model in self.config["byo"]:
            feeds = f"results/data/byo/{wildcards.model}/evaluation"
        else:
            feeds = f"results/calibrate/{wildcards.model}/batches"
        metric = self.config["agreement"]["metric"].rpartition(":")[0]
        return {"feeds": feeds, "metric": [metric] if metric.endswith(".py") else []}


def pick(settings: dict[str, Any], keys: str) -> dict[str, Any]:
    """Settings of one config section by name, as rule params of those names.

    Args:
        settings: the config section, e.g. ``config["onnx"]``.
        keys: the settings' names, separated by spaces (``"opset tolerance"``).
    """
    return {key: settings[key] for key in keys.split()}
