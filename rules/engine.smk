rule engine_build:
    input:
        onnx=PLAN.precision_graph,
    output:
        **PLAN.engine_files,
    log:
        "logs/engine/{model}.{precision}.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(builder=("onnx", "onnx_topk"), graphs=True),
        precision=PLAN.engine_precisions,
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=60, gpu=PLAN.engine_gpus()),
    params:
        **engine_params("engine_build"),
        top_k=PLAN.engine_top_k,
        dims=PLAN.engine_dims,
    script:
        "../scripts/engine_build.py"


rule engine_build_api:
    input:
        unpack(PLAN.api_plugins),
        wts=PLAN.wts,
        reference=PLAN.api_reference,
    output:
        **PLAN.engine_files,
    log:
        "logs/engine/{model}.{precision}.api.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(builder="api", unless={"network": "charrnn"}),
        precision="fp32|int4w",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=60, gpu=PLAN.engine_gpus()),
    params:
        **engine_params("engine_build_api"),
        **PLAN.network_params,
        int4_block=PLAN.int4_block,
    script:
        "../scripts/engine_build_api.py"


rule engine_build_charrnn:
    input:
        wts2=PLAN.wts2,
        reference="results/onnx/{model}/model.onnx",
    output:
        **PLAN.engine_files,
    log:
        "logs/engine/{model}.{precision}.charrnn.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(network="charrnn"),
        precision="fp32|fp16|int4w",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=60, gpu=PLAN.engine_gpus()),
    params:
        **engine_params("engine_build_charrnn"),
        steps=config["engine"]["steps"],
        int4_block=PLAN.int4_block,
    script:
        "../scripts/engine_build_charrnn.py"


rule engine_refit:
    input:
        wts=PLAN.wts,
        reference="results/onnx/{model}/model.onnx",
    output:
        plan="engines/{model}.plan",
        meta="engines/{model}.plan.json",
    log:
        "logs/engine/{model}.refit.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="refit"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=8192, runtime=60, gpu=1),
    params:
        **engine_params("engine_refit"),
        **PLAN.network_params,
        layer=config["refit"]["layer"],
    script:
        "../scripts/engine_refit.py"


# On request: snakemake engines/mnist_mixed.map.json (the mixed engine against its layer map)
rule engine_check_mixed:
    input:
        engine="engines/{model}_mixed.layers.json",
        layer_map="results/precision/{model}/mixed.layers.json",
    output:
        check="engines/{model}_mixed.map.json",
    log:
        "logs/engine/{model}.mixed.map.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder=("onnx", "onnx_topk"), graphs=True),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        code=code_of("engine_check_mixed"),
    script:
        "../scripts/engine_check_mixed.py"


use rule engine_build as engine_build_plugin with:
    input:
        onnx=PLAN.precision_graph,
        plugins=PLAN.plugin_library,
    log:
        "logs/engine/{model}.{precision}.plugin.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="onnx_plugin"),


rule plugin_library:
    input:
        cmake="plugins/CMakeLists.txt",
        sources=sorted(str(path) for path in Path("plugins/src").glob("*")),
    output:
        library=PLAN.plugin_library,
    log:
        "logs/plugins/library.log",
    conda:
        "../environment.yml"
    threads: 2
    resources:
        **res(runtime=30),
    params:
        code=code_of("plugin_library"),
        tensorrt_include=config["plugins"]["tensorrt_include"],
        architectures=config["plugins"]["cuda_architectures"],
    script:
        "../scripts/plugin_library.py"
