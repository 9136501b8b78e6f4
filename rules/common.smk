# All Snakefile-side Python: the registry, the plan (workflow/plan.py: input functions and
# config-derived values), wildcard constraints and the helpers rules share.
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
from workflow.fingerprint import code_fingerprint, remember_in
from workflow.plan import Plan, pick
from workflow.repro import job_environment
from workflow.samples import load_registry
from workflow.score.runtimes import RUNNER_MODULES
from workflow.score.serve import BACKEND_MODULES

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
REGISTRY.check_chosen(list(config["engine"]["per_sample"]), key="engine.per_sample")
SAMPLES = REGISTRY.samples
#: The registry's captions, read by the report's caption template (report/sample.rst) under
#: every sample's results. Not a setting: set after validation, and kept out of the rules'
#: params so that editing a caption reruns nothing.
config["_captions"] = {name: row["caption"] for name, row in SAMPLES.items()}
#: What the config asks of each rule: input functions, paths and config-derived params.
PLAN = Plan(config, REGISTRY)


wildcard_constraints:
    model="|".join(dict.fromkeys([*SAMPLES, *REGISTRY.all_graphs])),
    precision=PLAN.precisions,
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
    return lambda wildcards: code_of(script, RUNNER_MODULES[PLAN.runtime(wildcards)])


def serve_params():
    """stage_params of serving, its code fingerprint taken of its script and the runner of
    its backend only."""
    modules = BACKEND_MODULES[config["serve"]["backend"]]
    return {
        "code": code_of("serve_recommender", *modules),
        "reproducible": REPRODUCIBLE,
    }


def res(mem_mb=4096, runtime=20, **more):
    """A job's resources: memory (MB) and run time (minutes), 4096 and 20 unless the rule
    says otherwise, and more (gpu); one place for the defaults, since a profile's
    default-resources would also add disk_mb, vanish with --workflow-profile none and replace
    the SLURM profile's own default-resources."""
    return {"mem_mb": mem_mb, "runtime": runtime, **more}


def stage_params(script):
    """Params shared by the rules that compute, their code fingerprint (code_of) and the
    reproducibility mode (REPRODUCIBLE), so that a change to either reruns the job."""
    return {"code": code_of(script), "reproducible": REPRODUCIBLE}


def engine_params(script):
    """The params of an engine build: stage_params, the TensorRT that builds it and the build
    options (a new TensorRT or other options rebuild it)."""
    return stage_params(script) | {
        "tensorrt": PLAN.tensorrt,
        "build": PLAN.engine_build,
    }


def score_params(script):
    """The params of a scoring rule: its code fingerprint by runtime (score_code), the
    reproducibility mode, the runtime and the TensorRT module choice where it runs one.
    """
    return {
        "code": score_code(script),
        "reproducible": REPRODUCIBLE,
        "runtime": PLAN.runtime,
        "module": PLAN.score_module,
    }


def sample_report(path, **labels):
    """An output shown in the Snakemake report under its sample (PLAN.report_flags)."""
    return report(path, **PLAN.report_flags(path, **labels))


def summary_report(path, figure):
    """An output of the results summary in the Snakemake report (report/summary.rst)."""
    return report(
        path,
        caption="../report/summary.rst",
        category="Summary",
        labels={"figure": figure},
    )
