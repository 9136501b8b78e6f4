rule score_hello:
    input:
        unpack(get_score_model),
        pgm=expand(f"{MNIST_DATA}/pgm/{{digit}}.pgm", digit=range(10)),
    output:
        report="results/score/{model}/{precision}/hello.txt",
    log:
        "logs/score/{model}.{precision}.hello.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=2048,
        runtime=10,
        gpu=get_score_gpus,
    params:
        code=code_of("score_hello"),
        runtime=get_runtime,
        module=get_score_module,
        digit_seed=config["score"]["digit_seed"],
    script:
        "../scripts/score_hello.py"


rule score_accuracy:
    input:
        unpack(get_score_model),
        images=f"{MNIST_DATA}/test-images.idx",
        labels=f"{MNIST_DATA}/test-labels.idx",
    output:
        score="results/score/{model}/{precision}/accuracy.json",
    log:
        "logs/score/{model}.{precision}.accuracy.log",
    benchmark:
        "benchmarks/score/{model}.{precision}.tsv"
    conda:
        "../environment.yml"
    resources:
        mem_mb=4096,
        runtime=20,
        gpu=get_score_gpus,
    params:
        code=code_of("score_accuracy"),
        runtime=get_runtime,
        module=get_score_module,
        batch_size=config["score"]["batch_size"],
        threads=config["score"]["threads"],
    script:
        "../scripts/score_accuracy.py"


rule score_precisions:
    input:
        scores=expand(
            "results/score/{{model}}/{precision}/accuracy.json",
            precision=config["precisions"],
        ),
    output:
        summary="results/score/{model}/precisions.json",
        plot=report("results/score/{model}/precisions.png", category="Precisions"),
    log:
        "logs/score/{model}.precisions.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=1024,
        runtime=5,
    params:
        code=code_of("score_precisions"),
        precisions=config["precisions"],
    script:
        "../scripts/score_precisions.py"
