rule engine_build:
    input:
        onnx=get_precision_graph,
    output:
        plan="engines/{model}_{precision}.plan",
        meta="engines/{model}_{precision}.plan.json",
    log:
        "logs/engine/{model}.{precision}.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=ONNX_BUILT,
    conda:
        "../environment.yml"
    resources:
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
    script:
        "../scripts/engine_build.py"


rule engine_build_api:
    input:
        wts=get_wts,
        reference="results/onnx/{model}/model.onnx",
    output:
        plan="engines/{model}_{precision}.plan",
        meta="engines/{model}_{precision}.plan.json",
    log:
        "logs/engine/{model}.{precision}.api.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=API_BUILT,
        precision="fp32",
    conda:
        "../environment.yml"
    resources:
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        network=get_network,
        mlp_sizes=config["mlp"]["sizes"],
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
    script:
        "../scripts/engine_build_api.py"


rule engine_refit:
    input:
        wts=get_wts,
    output:
        plan="engines/{model}.plan",
        meta="engines/{model}.plan.json",
    log:
        "logs/engine/{model}.refit.log",
    wildcard_constraints:
        model=REFIT_BUILT,
    conda:
        "../environment.yml"
    resources:
        mem_mb=8192,
        runtime=60,
        gpu=1,
    params:
        network=get_network,
        mlp_sizes=config["mlp"]["sizes"],
        layer=config["refit"]["layer"],
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
    script:
        "../scripts/engine_refit.py"
