rule weights_torch:
    input:
        weights="results/train/{model}/weights.pt",
    output:
        wts="results/weights/{model}/weights.wts",
        wts2="results/weights/{model}/weights.wts2",
    log:
        "logs/weights/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train=("torch", "torch_images")),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("weights_torch"),
    script:
        "../scripts/weights_torch.py"


rule weights_tf:
    input:
        model="results/train/{model}/model.keras",
    output:
        wts="results/weights/{model}/weights.wts",
        wts2="results/weights/{model}/weights.wts2",
    log:
        "logs/weights/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train=("keras", "keras_charrnn")),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("weights_tf"),
    script:
        "../scripts/weights_tf.py"


rule weights_nmt:
    input:
        index="results/train/{model}/translate.ckpt.index",
        data="results/train/{model}/translate.ckpt.data-00000-of-00001",
    output:
        bins=expand("results/weights/{{model}}/{name}.bin", name=NMT_FILES),
    log:
        "logs/weights/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="tf_nmt"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("weights_nmt"),
        forget_bias=config["train"]["nmt"]["forget_bias"],
    script:
        "../scripts/weights_nmt.py"
