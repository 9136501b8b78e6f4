rule ocr_data:
    output:
        test=directory(f"{PLAN.ocr_data}/test"),
        calib=directory(f"{PLAN.ocr_data}/calib"),
    log:
        "logs/data/ocr.log",
    benchmark:
        "benchmarks/data/ocr.tsv"
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=10),
    params:
        **stage_params("ocr_data"),
        data=config["ocr"]["data"],
    script:
        "../scripts/ocr_data.py"


rule ocr_onnx:
    output:
        onnx="results/onnx/{model}/model.onnx",
        report="results/onnx/{model}/prepare.json",
    log:
        "logs/onnx/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(task="ocr", graphs=True),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("ocr_onnx"),
        part=PLAN.ocr_part,
        opset=config["onnx"]["opset"],
    script:
        "../scripts/ocr_onnx.py"


rule ocr_calibrate_batches:
    input:
        calib=f"{PLAN.ocr_data}/calib",
    output:
        batches=directory("results/calibrate/{model}/batches"),
    log:
        "logs/calibrate/{model}.batches.log",
    wildcard_constraints:
        model=REGISTRY.pattern(task="ocr", graphs=True),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("ocr_calibrate_batches"),
        **pick(config["ocr"], "det rec"),
        part=PLAN.ocr_part,
    script:
        "../scripts/ocr_calibrate_batches.py"


rule ocr_score:
    input:
        unpack(PLAN.score_model),
        dictionary=PLAN.ocr_dictionary,
        test=f"{PLAN.ocr_data}/test",
    output:
        score="results/score/{model}/{precision}/ocr.json",
        found="results/score/{model}/{precision}/found.json",
    log:
        "logs/score/{model}.{precision}.ocr.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(task="ocr"),
    conda:
        "../environment.yml"
    threads: 2
    resources:
        **res(runtime=30, gpu=PLAN.score_gpus),
    params:
        **score_params("ocr_score"),
        **pick(config["ocr"], "det rec iou_threshold threads"),
    script:
        "../scripts/ocr_score.py"


rule ocr_draw:
    input:
        found="results/score/{model}/{precision}/found.json",
        test=f"{PLAN.ocr_data}/test",
    output:
        drawn=sample_report(
            directory("results/score/{model}/{precision}/drawn"),
            subcategory="Text found",
            page="{name}",
        ),
    log:
        "logs/score/{model}.{precision}.draw.log",
    wildcard_constraints:
        model=REGISTRY.pattern(task="ocr"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=10),
    params:
        **stage_params("ocr_draw"),
        pages=config["ocr"]["draw"],
    script:
        "../scripts/ocr_draw.py"
