import gc

from snakemake.utils import min_version
from workflow.samples import validate_config

min_version("9.0")
# What Snakemake's start-up made lives as long as the process: kept out of the garbage
# collector's rounds, loading the rules and building the DAG spend 0.1 s less in them.
gc.freeze()


configfile: "config/config.yaml"


validate_config(
    config,
    "config/config.schema.yaml",
    remember_in=".snakemake/validated-config.json",
)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/weights.smk"
include: "rules/onnx.smk"
include: "rules/calibrate.smk"
include: "rules/precision.smk"
include: "rules/engine.smk"
include: "rules/score.smk"
include: "rules/ocr.smk"


rule all:
    default_target: True
    input:
        PLAN.final_targets(),
