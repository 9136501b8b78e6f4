rule score_hello:
    input:
        unpack(PLAN.score_model),
        pgm=expand(f"{PLAN.mnist_data}/pgm/{{digit}}.pgm", digit=range(10)),
    output:
        report=sample_report(
            "results/score/{model}/{precision}/hello.txt", shows="hello-world digit"
        ),
    log:
        "logs/score/{model}.{precision}.hello.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="mnist"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10, gpu=PLAN.score_gpus),
    params:
        **score_params("score_hello"),
        digit_seed=config["score"]["classify"]["digit_seed"],
    script:
        "../scripts/score_hello.py"


rule score_accuracy:
    input:
        unpack(PLAN.score_model),
        **PLAN.mnist("test"),
    output:
        score="results/score/{model}/{precision}/accuracy.json",
    log:
        "logs/score/{model}.{precision}.accuracy.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(data="mnist"),
    conda:
        "../environment.yml"
    resources:
        **res(gpu=PLAN.score_gpus),
    params:
        **score_params("score_accuracy"),
        batch_size=config["score"]["classify"]["batch_size"],
        threads=config["score"]["threads"],
    script:
        "../scripts/score_accuracy.py"


rule score_precisions:
    input:
        scores=PLAN.precision_scores,
    output:
        summary="results/score/{model}/precisions.json",
        plot=sample_report("results/score/{model}/precisions.png"),
    log:
        "logs/score/{model}.precisions.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        **stage_params("score_precisions"),
        precisions=PLAN.sample_precisions,
        metrics=PLAN.score_metrics,
    script:
        "../scripts/score_precisions.py"


rule score_detect:
    input:
        unpack(PLAN.score_model),
        unpack(PLAN.detector_files),
        **PLAN.detect_set("test", "classes"),
    output:
        score="results/score/{model}/{precision}/map.json",
        detections="results/score/{model}/{precision}/detections.npz",
    log:
        "logs/score/{model}.{precision}.map.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(data="detect"),
    conda:
        "../environment.yml"
    resources:
        **res(runtime=30, gpu=PLAN.score_gpus),
    params:
        **score_params("score_detect"),
        **pick(config["score"]["detect"], "iou_threshold batch_size"),
        **PLAN.detector_params,
        threads=config["score"]["threads"],
    script:
        "../scripts/score_detect.py"


rule score_draw:
    input:
        detections="results/score/{model}/{precision}/detections.npz",
        test=f"{PLAN.detect_data}/test",
        classes=f"{PLAN.detect_data}/classes.txt",
    output:
        drawn=sample_report(directory("results/score/{model}/{precision}/drawn")),
    log:
        "logs/score/{model}.{precision}.draw.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="detect"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=10),
    params:
        **stage_params("score_draw"),
        images=config["score"]["detect"]["draw"],
        threshold=config["score"]["detect"]["visualize"],
    script:
        "../scripts/score_draw.py"


rule score_recommend:
    input:
        unpack(PLAN.score_model),
        data=PLAN.movielens_data,
    output:
        score="results/score/{model}/{precision}/ranking.json",
        shown=sample_report("results/score/{model}/{precision}/recommendations.txt"),
    log:
        "logs/score/{model}.{precision}.ranking.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(data="movielens", unless={"builder": "serve"}),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, gpu=PLAN.score_gpus),
    params:
        **score_params("score_recommend"),
        **pick(config["score"]["recommend"], "k batch_size show_users"),
        threads=config["score"]["threads"],
    script:
        "../scripts/score_recommend.py"


rule serve_recommender:
    input:
        unpack(PLAN.served_model),
        data=PLAN.movielens_data,
    output:
        report="results/serve/{model}/{precision}/serving.json",
        answers="results/serve/{model}/{precision}/answers.npz",
        score="results/score/{model}/{precision}/ranking.json",
    log:
        "logs/serve/{model}.{precision}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="serve"),
    conda:
        "../environment.yml"
    threads: max(config["serve"]["processes"])
    resources:
        **res(runtime=30, gpu=PLAN.serve_gpus()),
    params:
        **pick(config["serve"], "backend processes queries seed threads"),
        **serve_params(),
        mps=PLAN.serve_mps,
        network=PLAN.served_network,
        k=config["score"]["recommend"]["k"],
    script:
        "../scripts/serve_recommender.py"


rule score_accuracy_byo:
    input:
        unpack(PLAN.score_model),
        test="results/data/byo/{model}/test.npz",
        evaluation="results/data/byo/{model}/evaluation",
        report="results/onnx/{model}/import.json",
    output:
        score="results/score/{model}/{precision}/accuracy.json",
    log:
        "logs/score/{model}.{precision}.accuracy.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(data="byo"),
    conda:
        "../environment.yml"
    resources:
        **res(gpu=PLAN.score_gpus),
    params:
        **score_params("score_accuracy_byo"),
        threads=config["score"]["threads"],
    script:
        "../scripts/score_accuracy_byo.py"


rule score_accuracy_images:
    input:
        unpack(PLAN.score_model),
        data=PLAN.images_data,
    output:
        score="results/score/{model}/{precision}/accuracy.json",
        hello=sample_report("results/score/{model}/{precision}/hello.txt"),
    log:
        "logs/score/{model}.{precision}.accuracy.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(data="images"),
    conda:
        "../environment.yml"
    resources:
        **res(gpu=PLAN.score_gpus),
    params:
        **PLAN.image_input,
        **score_params("score_accuracy_images"),
        batch_size=config["score"]["classify"]["batch_size"],
        threads=config["score"]["threads"],
    script:
        "../scripts/score_accuracy_images.py"


rule profile_layers:
    input:
        unpack(PLAN.profile_model),
        data=PLAN.images_data,
    output:
        profile="results/profile/{model}/{precision}.json",
    log:
        "logs/profile/{model}.{precision}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(profile=True),
    conda:
        "../environment.yml"
    resources:
        **res(gpu=PLAN.score_gpus),
    params:
        **PLAN.image_input,
        code=score_code("profile_layers"),
        runtime=PLAN.runtime,
        module=PLAN.score_module,
        profile={k: v for k, v in config["profile"].items() if k != "top"},
    script:
        "../scripts/profile_layers.py"


rule profile_chart:
    input:
        profiles=PLAN.profiles,
    output:
        chart=sample_report("results/profile/{model}/profile.png"),
    log:
        "logs/profile/{model}.chart.log",
    wildcard_constraints:
        model=REGISTRY.pattern(profile=True),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        code=code_of("profile_chart"),
        top=config["profile"]["top"],
    script:
        "../scripts/profile_chart.py"


rule score_charrnn:
    input:
        unpack(PLAN.charrnn_score_model),
        wts2=PLAN.wts2,
        data=PLAN.text_data,
    output:
        score="results/score/{model}/{precision}/text.json",
        generated=sample_report("results/score/{model}/{precision}/generated.txt"),
    log:
        "logs/score/{model}.{precision}.text.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(network="charrnn"),
    conda:
        "../environment.yml"
    resources:
        **res(runtime=30, gpu=PLAN.score_gpus),
    params:
        **score_params("score_charrnn"),
        score=config["score"]["charrnn"],
        int4_block=PLAN.int4_block,
    script:
        "../scripts/score_charrnn.py"


rule score_translate:
    input:
        unpack(PLAN.nmt_score_model),
        unpack(PLAN.nmt_bins),
        data=PLAN.translation_data,
    output:
        score="results/score/{model}/{precision}/bleu.json",
        translations=sample_report("results/score/{model}/{precision}/translations.txt"),
        benchmark="results/score/{model}/{precision}/benchmark.json",
    log:
        "logs/score/{model}.{precision}.bleu.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(network="nmt"),
    conda:
        "../environment.yml"
    resources:
        **res(runtime=30, gpu=PLAN.score_gpus),
    params:
        **score_params("score_translate"),
        translate=config["score"]["translate"],
        langs=PLAN.langs,
    script:
        "../scripts/score_translate.py"


rule summary:
    input:
        PLAN.summary_inputs,
    output:
        summary="results/summary.json",
        table=summary_report("results/summary.csv", "table (CSV)"),
        page=summary_report("results/summary.html", "table"),
        chart=summary_report("results/summary.png", "chart"),
    log:
        "logs/summary.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        code=code_of("summary"),
        files=PLAN.summary_sources(),
        registry=SAMPLES,
        chosen=config["samples"],
        precisions=config["precisions"],
    script:
        "../scripts/summary.py"
