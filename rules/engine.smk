rule engine_build:
    input:
        onnx=get_precision_graph,
    output:
        plan="engines/{model}_{precision}.plan",
        meta="engines/{model}_{precision}.plan.json",
        layers="engines/{model}_{precision}.layers.json",
    log:
        "logs/engine/{model}.{precision}.log",
    benchmark:
        "benchmarks/engine/{model}.{precision}.tsv"
    wildcard_constraints:
        model=REGISTRY.pattern(builder=("onnx", "onnx_topk"), graphs=True),
        precision=ENGINE_PRECISIONS,
    conda:
        "../environment.yml"
    resources:
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        code=code_of("engine_build"),
        reproducible=REPRODUCIBLE,
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
        top_k=get_engine_top_k,
        dims=get_engine_dims,
    script:
        "../scripts/engine_build.py"


rule engine_build_api:
    input:
        unpack(get_api_plugins),
        wts=get_wts,
        reference=get_api_reference,
    output:
        plan="engines/{model}_{precision}.plan",
        meta="engines/{model}_{precision}.plan.json",
        layers="engines/{model}_{precision}.layers.json",
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
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        code=code_of("engine_build_api"),
        reproducible=REPRODUCIBLE,
        network=get_network,
        mlp_sizes=config["networks"]["mlp"]["sizes"],
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
        int4_block=get_int4_block,
    script:
        "../scripts/engine_build_api.py"


rule engine_build_charrnn:
    input:
        wts2=get_wts2,
        reference="results/onnx/{model}/model.onnx",
    output:
        plan="engines/{model}_{precision}.plan",
        meta="engines/{model}_{precision}.plan.json",
        layers="engines/{model}_{precision}.layers.json",
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
        mem_mb=8192,
        runtime=60,
        gpu=get_engine_gpus(),
    params:
        code=code_of("engine_build_charrnn"),
        reproducible=REPRODUCIBLE,
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
        steps=config["engine"]["steps"],
        int4_block=get_int4_block,
    script:
        "../scripts/engine_build_charrnn.py"


rule engine_refit:
    input:
        wts=get_wts,
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
        mem_mb=8192,
        runtime=60,
        gpu=1,
    params:
        code=code_of("engine_refit"),
        reproducible=REPRODUCIBLE,
        network=get_network,
        mlp_sizes=config["networks"]["mlp"]["sizes"],
        layer=config["refit"]["layer"],
        tensorrt=TENSORRT,
        build=ENGINE_BUILD,
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
        mem_mb=1024,
        runtime=5,
    params:
        code=code_of("engine_check_mixed"),
    script:
        "../scripts/engine_check_mixed.py"


use rule engine_build as engine_build_plugin with:
    input:
        onnx=get_precision_graph,
        plugins=PLUGIN_LIBRARY,
    log:
        "logs/engine/{model}.{precision}.plugin.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="onnx_plugin"),


rule plugin_library:
    input:
        cmake="plugins/CMakeLists.txt",
        sources=sorted(str(path) for path in Path("plugins/src").glob("*")),
    output:
        library=PLUGIN_LIBRARY,
    log:
        "logs/plugins/library.log",
    conda:
        "../environment.yml"
    threads: 2
    resources:
        mem_mb=4096,
        runtime=30,
    params:
        code=code_of("plugin_library"),
        tensorrt_include=config["plugins"]["tensorrt_include"],
        architectures=config["plugins"]["cuda_architectures"],
    script:
        "../scripts/plugin_library.py"
