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
    conda:
        "../environment.yml"
    resources:
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        module=config["tensorrt"]["module"],
        tensorrt=TENSORRT,
        compute_capabilities=config["tensorrt"]["compute_capabilities"],
        batch=[config["engine"]["batch"][key] for key in ("min", "opt", "max")],
        workspace_mib=config["engine"]["workspace_mib"],
        optimization_level=config["engine"]["optimization_level"],
    script:
        "../scripts/engine_build.py"
