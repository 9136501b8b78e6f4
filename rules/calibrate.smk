rule calibrate_batches:
    input:
        **PLAN.mnist("train"),
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="mnist"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("calibrate_batches"),
        **pick(config["calibration"]["images"]["mnist"], "batch_size batches"),
    script:
        "../scripts/calibrate_batches.py"


rule calibrate_batches_images:
    input:
        data=PLAN.images_data,
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="images"),
    conda:
        "../environment.yml"
    resources:
        **res(runtime=10),
    params:
        **PLAN.image_input,
        **stage_params("calibrate_batches_images"),
        **pick(config["calibration"]["images"]["images"], "batch_size batches"),
    script:
        "../scripts/calibrate_batches_images.py"


rule calibrate_batches_ppm:
    input:
        unpack(PLAN.detector_files),
        **PLAN.detect_set("train"),
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="detect", part="rpn"),
    conda:
        "../environment.yml"
    resources:
        **res(runtime=10),
    params:
        **stage_params("calibrate_batches_ppm"),
        **pick(config["calibration"]["images"]["detect"], "batch_size batches"),
        detector=PLAN.detector_input,
    script:
        "../scripts/calibrate_batches_ppm.py"


rule calibrate_batches_rois:
    input:
        rpn=PLAN.rpn_graph,
        train=f"{PLAN.detect_data}/train",
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="faster_rcnn", part="head"),
    conda:
        "../environment.yml"
    threads: 2
    resources:
        **res(runtime=10),
    params:
        **stage_params("calibrate_batches_rois"),
        **pick(config["calibration"]["images"]["detect"], "batch_size batches"),
        detector=PLAN.detector,
    script:
        "../scripts/calibrate_batches_rois.py"


rule calibrate_batches_queries:
    input:
        data=PLAN.movielens_data,
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="movielens", unless={"builder": "serve"}),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("calibrate_batches_queries"),
        **pick(config["calibration"]["queries"], "batch_size batches"),
        seed=config["train"]["ncf"]["seed"],
    script:
        "../scripts/calibrate_batches_queries.py"


rule calibrate_table:
    input:
        onnx="results/onnx/{model}/model.onnx",
        batches="results/calibrate/{model}/batches",
    output:
        table="results/calibrate/{model}/calibration.table",
        ranges="results/calibrate/{model}/dynamic_ranges.txt",
    log:
        "logs/calibrate/{model}.table.log",
    benchmark:
        "benchmarks/calibrate/{model}.tsv"
    conda:
        "../environment.yml"
    # ONNX Runtime runs the next batch while one is measured; the search, a tensor a thread
    threads: 2
    resources:
        **res(runtime=30),
    params:
        **stage_params("calibrate_table"),
        **pick(config["calibration"], "bins percentile threads table_version"),
        # the activations the INT8 graph quantizes; calibrate_table_all measures every tensor
        scope="quantized",
        algorithm=PLAN.calibration_algorithm,
    script:
        "../scripts/calibrate_table.py"


# Every float tensor, as the seed's CalibrationTable lists them; built on request only (no
# INT8 graph waits for it): snakemake results/calibrate/ssd/calibration_all.table
use rule calibrate_table as calibrate_table_all with:
    output:
        table="results/calibrate/{model}/calibration_all.table",
        ranges="results/calibrate/{model}/dynamic_ranges_all.txt",
    log:
        "logs/calibrate/{model}.table_all.log",
    benchmark:
        "benchmarks/calibrate/{model}_all.tsv"
    params:
        scope="all",
