rule precision_fp16:
    input:
        onnx="results/onnx/{model}/model.onnx",
    output:
        onnx="results/precision/{model}/fp16.onnx",
    log:
        "logs/precision/{model}.fp16.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("precision_fp16"),
        keep_fp32=config["fp16"]["keep_fp32"],
    script:
        "../scripts/precision_fp16.py"


rule precision_int8:
    input:
        onnx="results/onnx/{model}/model.onnx",
        ranges=PLAN.int8_ranges,
    output:
        onnx="results/precision/{model}/int8.onnx",
    log:
        "logs/precision/{model}.int8.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("precision_int8"),
        **PLAN.calibration_params,
    script:
        "../scripts/precision_int8.py"


# The FP8 graph's ranges where fp8.algorithm differs from the INT8 calibrator.
use rule calibrate_table as calibrate_table_fp8 with:
    output:
        table="results/calibrate/{model}/calibration_fp8.table",
        ranges="results/calibrate/{model}/dynamic_ranges_fp8.txt",
    log:
        "logs/calibrate/{model}.table_fp8.log",
    benchmark:
        "benchmarks/calibrate/{model}_fp8.tsv"
    params:
        algorithm=config["fp8"]["algorithm"],


# The mixed graph's ranges where mixed.algorithm differs from the INT8 calibrator.
use rule calibrate_table as calibrate_table_mixed with:
    output:
        table="results/calibrate/{model}/calibration_mixed.table",
        ranges="results/calibrate/{model}/dynamic_ranges_mixed.txt",
    log:
        "logs/calibrate/{model}.table_mixed.log",
    benchmark:
        "benchmarks/calibrate/{model}_mixed.tsv"
    params:
        algorithm=config["mixed"]["algorithm"],


rule precision_fp8:
    input:
        onnx="results/onnx/{model}/model.onnx",
        ranges=PLAN.fp8_ranges,
    output:
        onnx="results/precision/{model}/fp8.onnx",
    log:
        "logs/precision/{model}.fp8.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("precision_fp8"),
        source=config["calibration"]["source"],
        algorithm=PLAN.fp8_algorithm,
    script:
        "../scripts/precision_fp8.py"


rule precision_int4w:
    input:
        unpack(PLAN.int4_batches),
        onnx="results/onnx/{model}/model.onnx",
    output:
        onnx="results/precision/{model}/int4w.onnx",
    log:
        "logs/precision/{model}.int4w.log",
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("precision_int4w"),
        **pick(config["int4"], "block_size awq_grid"),
        threads=config["calibration"]["threads"],
    script:
        "../scripts/precision_int4w.py"


# On request (it runs both graphs): snakemake results/precision/mnist/int8.agreement.json
rule precision_agreement:
    input:
        unpack(PLAN.agreement_inputs),
        fp32="results/onnx/{model}/model.onnx",
        graph="results/precision/{model}/{precision}.onnx",
    output:
        report="results/precision/{model}/{precision}.agreement.json",
        plot="results/precision/{model}/{precision}.agreement.png",
    log:
        "logs/precision/{model}.{precision}.agreement.log",
    wildcard_constraints:
        precision="fp16|int8|fp8|int4w",
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("precision_agreement"),
        **pick(config["agreement"], "max_batches metric argmax_outputs threads"),
    script:
        "../scripts/precision_agreement.py"


# On request: snakemake results/precision/mnist/int8.divergence.json (every tensor vs FP32)
rule precision_divergence:
    input:
        unpack(PLAN.agreement_inputs),
        fp32="results/onnx/{model}/model.onnx",
        graph="results/precision/{model}/{precision}.onnx",
    output:
        report="results/precision/{model}/{precision}.divergence.json",
        plot="results/precision/{model}/{precision}.divergence.png",
    log:
        "logs/precision/{model}.{precision}.divergence.log",
    benchmark:
        "benchmarks/precision/{model}.{precision}.divergence.tsv"
    wildcard_constraints:
        precision="fp16|int8",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=30),
    params:
        **stage_params("precision_divergence"),
        **pick(config["divergence"], "max_batches threshold_db threads"),
    script:
        "../scripts/precision_divergence.py"


# On request: snakemake results/precision/mnist/int8.sensitivity.json (INT8 node by node)
rule precision_sensitivity:
    input:
        unpack(PLAN.agreement_inputs),
        fp32="results/onnx/{model}/model.onnx",
        ranges=PLAN.int8_ranges,
    output:
        report="results/precision/{model}/int8.sensitivity.json",
        plot="results/precision/{model}/int8.sensitivity.png",
    log:
        "logs/precision/{model}.int8.sensitivity.log",
    benchmark:
        "benchmarks/precision/{model}.int8.sensitivity.tsv"
    conda:
        "../environment.yml"
    threads: config["divergence"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("precision_sensitivity"),
        **pick(config["divergence"], "worst threads"),
        **PLAN.calibration_params,
        max_batches=config["divergence"]["sensitivity_batches"],
        metric=config["agreement"]["metric"],
    script:
        "../scripts/precision_sensitivity.py"


# The sensitivity ranking of the mixed graph's ranges where mixed.algorithm differs from the
# INT8 calibrator.
use rule precision_sensitivity as precision_sensitivity_mixed with:
    input:
        unpack(PLAN.agreement_inputs),
        fp32="results/onnx/{model}/model.onnx",
        ranges=PLAN.mixed_ranges,
    output:
        report="results/precision/{model}/mixed.sensitivity.json",
        plot="results/precision/{model}/mixed.sensitivity.png",
    log:
        "logs/precision/{model}.mixed.sensitivity.log",
    benchmark:
        "benchmarks/precision/{model}.mixed.sensitivity.tsv"
    params:
        **stage_params("precision_sensitivity"),
        **pick(config["divergence"], "worst threads"),
        source=config["calibration"]["source"],
        algorithm=PLAN.mixed_algorithm,
        max_batches=config["divergence"]["sensitivity_batches"],
        metric=config["agreement"]["metric"],


# On request: snakemake results/precision/mnist/mixed.onnx (INT8 but the most sensitive nodes)
rule precision_mixed:
    input:
        unpack(PLAN.agreement_inputs),
        fp32="results/onnx/{model}/model.onnx",
        ranges=PLAN.mixed_ranges,
        sensitivity=PLAN.mixed_sensitivity,
    output:
        graph="results/precision/{model}/mixed.onnx",
        layers="results/precision/{model}/mixed.layers.json",
    log:
        "logs/precision/{model}.mixed.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("precision_mixed"),
        **pick(
            config["mixed"],
            "target held_out ranking max_evaluations metric_name max_drop",
        ),
        **pick(config["mixed"], "fp32_ops"),
        source=config["calibration"]["source"],
        algorithm=PLAN.mixed_algorithm,
        value=PLAN.mixed("value"),
        max_batches=PLAN.mixed("max_batches"),
        metric=config["mixed"]["metric"] or config["agreement"]["metric"],
    script:
        "../scripts/precision_mixed.py"
