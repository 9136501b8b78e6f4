from snakemake.utils import min_version
from workflow.samples import validate_config

min_version("9.0")


configfile: "config/config.yaml"


validate_config(config, "config/config.schema.yaml")


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
        final_targets(),
