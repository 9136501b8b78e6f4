"""The sample registry: which samples exist and how each one is made, read from
``config/samples.yaml`` and checked against ``config/samples.schema.yaml``.

Each row names the sample's task (``classify``, ``detect``, ``recommend``), its data, how it is
trained (``torch``, ``keras``, ``ssd``, ``ncf`` or ``none``), its network, whose trained weights
it uses, its builder (``onnx``, ``onnx_topk``, ``api``, ``refit``, ``serve``), its precisions,
the seed samples it covers and a caption. A model split into several graphs (``parts``, such as
Faster R-CNN's ``rpn`` and ``head``) has one graph and one engine per part, named
``<sample>_<part>``: the graph-level rules (precision graphs, calibration, engines) run per
graph, the scoring per sample.
The workflow derives its targets and wildcard constraints from these rows.
"""

import copy
import difflib
import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from workflow.errors import PipelineError
from workflow.io import write_atomically

#: The registry and its schema in a checkout.
REGISTRY = Path(__file__).resolve().parents[1] / "config" / "samples.yaml"
#: The workflow config's schema, with every setting's default.
CONFIG_SCHEMA = REGISTRY.with_name("config.schema.yaml")
#: PyYAML's libyaml parser where PyYAML was built with it (it builds the same documents as
#: ``yaml.SafeLoader``, about 8 times faster: the config schema is 60 kB), else the pure-Python one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: What each task's score file is called and the metrics compared across precisions.
TASK_SCORES = {
    "classify": ("accuracy.json", ("top1", "top5")),
    "detect": ("map.json", ("map",)),
    "recommend": ("ranking.json", ("hr", "ndcg")),
    "generate": ("text.json", ("accuracy",)),
    "translate": ("bleu.json", ("bleu",)),
    "ocr": ("ocr.json", ("exact", "recall", "char_accuracy")),
}
#: Precisions built only on request (config precisions or their targets): a row that lists
#: one of them besides a single other precision has nothing to compare until it is chosen.
OPT_IN = ("fp8", "int4w")
#: What each task shows of one run beside its score: the hello-world digit, the drawn
#: detections, the recommendations printed for a few users, the generated text.
TASK_SHOWS = {
    "classify": "hello.txt",
    "detect": "drawn",
    "recommend": "recommendations.txt",
    "generate": "generated.txt",
    "translate": "translations.txt",
    "ocr": "drawn",
}


@dataclass(frozen=True)
class Registry:
    """The samples by name, each a dict of the registry's fields."""

    samples: dict[str, dict[str, Any]]

    def with_(self, key: str, *values: object) -> list[str]:
        """Names of the samples whose ``key`` is one of ``values``."""
        return [name for name, row in self.samples.items() if row[key] in values]

    def pattern(
        self,
        *,
        part: str | None = None,
        graphs: bool = False,
        unless: dict[str, object] | None = None,
        when: bool = True,
        **fields: object,
    ) -> str:
        """A regular expression (a rule's wildcard constraint) matching the samples whose
        fields have the given values, e.g. ``pattern(train="torch")``.

        Args:
            part: match a split sample's graph ``<sample>_<part>`` instead of the sample (a
                split sample without that part is left out; a one-graph sample is its graph).
            graphs: match every graph of each sample (:meth:`graphs`) instead of the sample.
            unless: field name -> value(s), as in ``fields``, any of which leaves a sample out.
            when: False matches nothing (a rule that the config turns off).
            **fields: field name -> value, or a tuple of values any of which matches; ``None``
                matches a row without the field, ``True`` a row where it is set and true.

        Returns:
            The names joined by ``|``, or an expression that matches no name when no sample
            fits (an empty constraint would match an empty name).
        """
        names = [
            name
            for name, row in self.samples.items()
            if when
            and all(_fits(row.get(key), value) for key, value in fields.items())
            and not any(_fits(row.get(key), value) for key, value in (unless or {}).items())
        ]
        if part is not None:
            parts = {name: self.samples[name].get("parts") for name in names}
            names = [
                f"{name}_{part}" if parts[name] else name
                for name in names
                if not parts[name] or part in parts[name]
            ]
        elif graphs:
            names = [graph for name in names for graph in self.graphs(name)]
        return "|".join(names) or "(?!)"

    def check_chosen(self, chosen: list[str], *, key: str = "samples") -> None:
        """Check that every name in ``chosen`` (config key ``key``) is a registered sample.

        Raises:
            PipelineError: naming the unknown sample and the registered ones.
        """
        unknown = [name for name in chosen if name not in self.samples]
        if unknown:
            raise PipelineError(
                f"config {key}",
                f"unknown sample(s) {', '.join(unknown)}",
                f"choose among {', '.join(self.samples)} (config/samples.yaml)",
            )

    def targets(self, name: str, precisions: list[str]) -> list[str]:
        """The files ``snakemake`` builds for a sample in the chosen ``precisions``: engines,
        scores, what the task shows (``TASK_SHOWS``), the precision comparison (where its row
        lists more than one precision, an opt-in one (:data:`OPT_IN`) counted only where
        chosen) and, for a
        Keras sample, its dumpTFWts ``.wts``; for a profiled sample, its per-layer profile
        chart (and through it the profiles); for a serving sample, its serving report and the
        score of its answers per precision."""
        row = self.samples[name]
        score = TASK_SCORES[row["task"]][0]
        targets = []
        for precision in (p for p in precisions if p in row["precisions"]):
            scored = f"results/score/{name}/{precision}"
            if row["builder"] == "serve":
                targets += [f"results/serve/{name}/{precision}/serving.json", f"{scored}/{score}"]
                continue
            targets += [*self.engines(name, precision), f"{scored}/{score}"]
            if row["data"] != "byo":  # the hello-world and drawings read the pipeline's data
                targets.append(f"{scored}/{TASK_SHOWS[row['task']]}")
        if sum(p not in OPT_IN or p in precisions for p in row["precisions"]) > 1:
            targets.append(f"results/score/{name}/precisions.json")
        if row["train"] in ("keras", "keras_charrnn"):
            targets.append(f"results/weights/{name}/weights.wts")
        if row.get("profile"):
            targets.append(f"results/profile/{name}/profile.png")
        return targets

    def with_own(self, own: dict[str, dict[str, Any]]) -> "Registry":
        """The registry with your own models (config ``byo``) as samples: classifiers scored on
        their own data, FP32, FP16 and INT8 through the ONNX parser.

        Raises:
            PipelineError: an own model named like a registered sample or one of a sample's
                graphs (``ocr_rec`` of ``ocr``: its files would be two rules' outputs).
        """
        clash = sorted(set(own) & set(self.samples))
        if clash:
            raise PipelineError(
                f"config byo.{clash[0]}", "is the name of a registered sample", "rename it"
            )
        graphs = {graph: name for name in self.samples for graph in self.graphs(name)}
        clash = sorted(set(own) & set(graphs))
        if clash:
            raise PipelineError(
                f"config byo.{clash[0]}",
                f"is the name of a graph of the registered sample {graphs[clash[0]]}",
                "rename it",
            )
        rows = {
            name: {
                "task": "classify",
                "data": "byo",
                "train": "byo",
                "network": "byo",
                "weights": name,
                "builder": "onnx",
                "precisions": ["fp32", "fp16", "int8"],
                "seed_samples": ["your own model"],
                "caption": f"Your model {entry['model']}, checked, calibrated and built.",
            }
            for name, entry in own.items()
        }
        return Registry(self.samples | rows)

    def engine(self, name: str, precision: str) -> str:
        """The engine of a one-graph sample in a precision (a refit sample has one plan)."""
        if self.samples[name]["builder"] == "refit":
            return f"engines/{name}.plan"
        return f"engines/{name}_{precision}.plan"

    def engines(self, name: str, precision: str) -> list[str]:
        """Every engine of a sample in a precision: one per graph (:meth:`graphs`)."""
        if "parts" not in self.samples[name]:
            return [self.engine(name, precision)]
        return [f"engines/{graph}_{precision}.plan" for graph in self.graphs(name)]

    def graphs(self, name: str) -> list[str]:
        """The ONNX graphs of a sample: ``<sample>_<part>`` per part, else the sample itself."""
        return [f"{name}_{part}" for part in self.samples[name].get("parts", [])] or [name]

    @property
    def all_graphs(self) -> list[str]:
        """Every graph of every sample."""
        return [graph for name in self.samples for graph in self.graphs(name)]

    def sample_of(self, graph: str) -> str:
        """The sample a graph belongs to; a sample's name gives the sample (a one-graph sample
        is its own graph).

        Raises:
            PipelineError: no sample has that name or graph.
        """
        if graph in self.samples:
            return graph
        for name in self.samples:
            if graph in self.graphs(name):
                return name
        raise PipelineError(f"graph {graph!r}", "belongs to no sample", "see config/samples.yaml")


def _fits(found: object, wanted: object) -> bool:
    """Whether a row's field value ``found`` is ``wanted``: a value, a tuple of values, None
    (the field is absent) or True (it is set and true); see :meth:`Registry.pattern`."""
    for value in wanted if isinstance(wanted, tuple) else (wanted,):
        if value is True and found or value is None and found is None or value == found:
            return True
    return False


def precision_graph(graph: str, precision: str) -> str:
    """The ONNX graph whose precision an engine of ``precision`` has: the trained graph for
    FP32, the pipeline's FP16 or INT8 graph otherwise."""
    if precision == "fp32":
        return f"results/onnx/{graph}/model.onnx"
    return f"results/precision/{graph}/{precision}.onnx"


def summary_files(registry: Registry, name: str, precision: str) -> dict[str, Any]:
    """The files the results summary reads of one sample in one precision: its ``score``, and
    per engine (one per graph) its ``plan``, ``meta`` (``.plan.json``), ``layers`` report,
    build ``benchmark`` and the ``graph`` it was built from (for a network-API build, the
    ONNX emission of the same description); no engines for a serving sample, no layer report
    or benchmark for a refit one. For an FP16 or INT8 graph of the pipeline, also its
    ``agreement`` report with FP32 (built on request: the summary reads it where it exists;
    of a sample of several graphs, the first graph's)."""
    row = registry.samples[name]
    files: dict[str, Any] = {
        "score": f"results/score/{name}/{precision}/{TASK_SCORES[row['task']][0]}",
        "engines": [],
    }
    if precision != "fp32" and row["builder"] not in ("api", "refit"):
        graph = registry.graphs(name)[0]
        files["agreement"] = f"results/precision/{graph}/{precision}.agreement.json"
    if row["builder"] == "serve":
        return files
    for graph, plan in zip(registry.graphs(name), registry.engines(name, precision), strict=True):
        engine = {"plan": plan, "meta": f"{plan}.json"}
        if row["builder"] in ("api", "refit"):
            engine["graph"] = f"results/onnx/{graph}/model.onnx"
        else:
            engine["graph"] = precision_graph(graph, precision)
        if row["builder"] != "refit":
            engine["layers"] = plan.removesuffix(".plan") + ".layers.json"
            engine["benchmark"] = f"benchmarks/engine/{graph}.{precision}.tsv"
        files["engines"].append(engine)
    return files


def read_yaml(path: str | Path) -> Any:
    """A YAML file as ``yaml.safe_load`` reads it, parsed with :data:`YAML_LOADER`."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=YAML_LOADER)


def read_schema(path: str | Path) -> Any:
    """A JSON schema in YAML, parsed once per process while the file keeps its modification time
    and size. The document is shared between callers: read it, never change it."""
    stat = Path(path).stat()
    return _parsed(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@cache
def _parsed(path: str, mtime_ns: int, size: int) -> Any:
    return read_yaml(path)


def load_registry(path: str | Path = REGISTRY) -> Registry:
    """Read and check the sample registry.

    Args:
        path: ``samples.yaml``; its schema ``samples.schema.yaml`` lies beside it. Defaults to
            the checkout's ``config/samples.yaml``.

    Raises:
        PipelineError: the file breaks its schema (the row and field are named), or a row's
            ``weights`` names no sample that trains.
    """
    import jsonschema

    path = Path(path)
    rows = read_yaml(path)
    schema = read_schema(path.with_name("samples.schema.yaml"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(rows), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "top level"
        raise PipelineError(path, f"{where}: {errors[0].message}", "fix the row (see the schema)")
    for name, row in rows.items():
        clash = [g for g in Registry(rows).graphs(name) if g != name and g in rows]
        if clash:
            raise PipelineError(
                path,
                f"{name}: its graph {clash[0]!r} is also a sample's name",
                "rename the part or the sample",
            )
        source = rows.get(row["weights"])
        if source is None or source["train"] == "none":
            raise PipelineError(
                path,
                f"{name}: weights {row['weights']!r} is no sample that trains",
                "name a sample whose train is not none",
            )
    return Registry(rows)


def config_default(*keys: str, schema: str | Path = CONFIG_SCHEMA) -> Any:
    """The default of a workflow setting, e.g. ``("fp16", "keep_fp32")``; for a section, its
    defaults filled in as the workflow's validation fills them (``("train", "frcnn")``)."""
    node = read_schema(schema)
    for key in keys:
        node = node["properties"][key]
    return copy.deepcopy(_filled(node))


def _filled(node: dict[str, Any]) -> Any:
    if "properties" not in node:
        return node["default"]
    filled = dict(node.get("default", {}))
    for key, child in node["properties"].items():
        if "default" in child or "properties" in child:
            filled.setdefault(key, _filled(child))
    return filled


def own_model_settings(entry: dict[str, Any], *, schema: str | Path = CONFIG_SCHEMA) -> dict:
    """One ``byo`` entry with the schema's defaults filled in (the workflow's validation does
    not reach into entries keyed by your names)."""
    node = read_schema(schema)
    defaults = copy.deepcopy(_filled(node["properties"]["byo"]["additionalProperties"]))
    settings = defaults | entry
    settings["preprocess"] = defaults["preprocess"] | entry.get("preprocess", {})
    return settings


def check_config(config: dict[str, Any], schema: str | Path = CONFIG_SCHEMA) -> dict[str, Any]:
    """Check a workflow config against its schema, saying what is wrong in one short message.

    Checked on a copy, with the schema's defaults filled in as Snakemake's ``validate`` fills
    them (a default is set where a key is missing, then its own properties are checked and
    filled in turn), so a setting left out is never an error here.

    Args:
        config: the config as loaded (config files and ``--config``).
        schema: the JSON schema (YAML), read with :func:`read_schema`. Defaults to the
            checkout's ``config/config.schema.yaml``.

    Returns:
        The checked copy with the defaults filled in (:func:`validate_config` keeps it).

    Raises:
        PipelineError: naming the key path, the problem (for a misspelt key, the closest known
            one) and the schema file.
    """
    from jsonschema import Draft202012Validator, exceptions, validators

    rules = read_schema(schema)
    properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_defaults(validator, props, instance, node):
        if isinstance(instance, dict):
            for key, child in props.items():
                if "default" in child:
                    instance.setdefault(key, copy.deepcopy(child["default"]))
        yield from properties(validator, props, instance, node)

    filling = validators.extend(Draft202012Validator, {"properties": fill_defaults})
    checked = copy.deepcopy(config)
    error = exceptions.best_match(filling(rules).iter_errors(checked))
    if error is None:
        return checked
    where = ".".join(str(key) for key in error.absolute_path)
    fix = f"fix it in your config file or --config; {schema} lists every setting"
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = list(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in known]
        close = difflib.get_close_matches(str(unknown[0]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
        problem = f"unknown key {unknown[0]!r} in {where or 'the top level'}; {hint}"
        raise PipelineError("config", problem, fix)
    message = error.message if len(error.message) <= 300 else error.message[:300] + " ..."
    raise PipelineError("config", f"{where or 'the top level'}: {message}", fix)


def validate_config(
    config: dict[str, Any],
    schema: str | Path = CONFIG_SCHEMA,
    *,
    remember_in: str | Path | None = None,
) -> None:
    """The Snakefile's validation: :func:`check_config`, then its defaults kept in ``config``
    itself, key for key and in the order Snakemake's ``validate(config, schema)`` leaves them
    (a default is a copy, never the schema's own object). The schema is parsed once, with
    libyaml: Snakemake's ``validate`` would parse it again in pure Python (0.3 s of every
    start). Schemas here use no ``$ref`` to other files, which this does not follow.

    Args:
        config: the config as loaded; filled in place.
        schema: the JSON schema (YAML).
        remember_in: a JSON file that keeps the last validated config, under a digest of the
            config as given, the schema file, this module and the installed jsonschema: the
            same config validated again is read back from it (no schema parse, no jsonschema
            import: 0.1 s of a start). Only a config that JSON holds exactly is remembered.
            Unreadable or unwritable: ignored.

    Raises:
        PipelineError: as :func:`check_config`; ``config`` is then left as it was.
    """
    key = _validation_key(config, schema) if remember_in is not None else None
    if key is not None:
        try:
            kept = json.loads(Path(remember_in).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and kept.get("key") == key:
            config.update(kept["config"])
            return
    filled = check_config(config, schema)
    config.update(filled)
    if key is not None and _json_exact(filled):
        try:
            write_atomically(remember_in, json.dumps({"key": key, "config": filled}))
        except OSError:
            pass


def _json_exact(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is (no tuples, non-string keys, NaN, ...)."""
    try:
        return json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        return False


def _validation_key(config: dict[str, Any], schema: str | Path) -> str | None:
    """What a validation's result depends on, digested: the config (keys in order), the schema
    file's bytes, this module's code and the jsonschema install; None when the config is not
    one that JSON holds exactly."""
    if not _json_exact(config):
        return None
    digest = hashlib.sha256(json.dumps(config).encode())
    digest.update(Path(schema).read_bytes())
    digest.update(Path(__file__).read_bytes())
    installed = importlib.util.find_spec("jsonschema").origin  # found, not imported
    stat = Path(installed).stat()
    digest.update(f"{installed}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    return digest.hexdigest()
