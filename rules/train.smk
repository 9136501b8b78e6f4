rule train_torch:
    input:
        **PLAN.mnist("train"),
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="torch"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["classifier"]["threads"]
    resources:
        **res(runtime=60),
    params:
        **stage_params("train_torch"),
        **pick(
            config["train"]["classifier"],
            "seed epochs batch_size learning_rate momentum weight_decay threads",
        ),
        **PLAN.network_params,
    script:
        "../scripts/train_torch.py"


rule train_keras:
    input:
        **PLAN.mnist("train"),
    output:
        model="results/train/{model}/model.keras",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="keras"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["classifier"]["threads"]
    resources:
        **res(runtime=60),
    params:
        **stage_params("train_keras"),
        **pick(config["train"]["classifier"], "seed epochs batch_size momentum threads"),
        network=PLAN.network,
        learning_rate=config["train"]["classifier"]["keras_learning_rate"],
    script:
        "../scripts/train_keras.py"


rule train_ssd:
    input:
        **PLAN.detect_set("train", "classes"),
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="ssd"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["ssd"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("train_ssd"),
        train=config["train"]["ssd"],
    script:
        "../scripts/train_ssd.py"


rule train_ncf:
    input:
        data=PLAN.movielens_data,
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="ncf"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["ncf"]["threads"]
    resources:
        **res(runtime=60),
    params:
        **config["train"]["ncf"],
        **stage_params("train_ncf"),
    script:
        "../scripts/train_ncf.py"


rule train_yolo:
    input:
        **PLAN.detect_set("train", "classes"),
        cfg=PLAN.yolo_cfg,
    output:
        weights="results/train/{model}/model.weights",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="yolo"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["yolo"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("train_yolo"),
        train={k: v for k, v in config["train"]["yolo"].items() if k != "cfg"},
    script:
        "../scripts/train_yolo.py"


rule train_frcnn:
    input:
        **PLAN.detect_set("train", "classes"),
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="frcnn"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["frcnn"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("train_frcnn"),
        train=config["train"]["frcnn"],
    script:
        "../scripts/train_frcnn.py"


rule train_detector:
    input:
        **PLAN.detect_set("train", "classes"),
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="detector"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["detector"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **stage_params("train_detector"),
        train=config["train"]["detector"],
        detector=PLAN.detector,
    script:
        "../scripts/train_detector.py"


rule train_torch_images:
    input:
        data=PLAN.images_data,
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="torch_images", when=not PLAN.imagenet_weights),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["images"]["threads"]
    resources:
        **res(mem_mb=8192, runtime=120),
    params:
        **PLAN.image_input,
        **stage_params("train_torch_images"),
        train=config["train"]["images"],
        network=PLAN.network,
        base_width=PLAN.base_width,
    script:
        "../scripts/train_torch_images.py"


rule weights_imagenet:
    input:
        pth=PLAN.torchvision_weights,
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.imagenet.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="torch_images", when=PLAN.imagenet_weights),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        code=code_of("weights_imagenet"),
        network=PLAN.network,
        official=PLAN.torchvision_checksum,
    script:
        "../scripts/weights_imagenet.py"


rule keras_from_wts:
    input:
        wts=PLAN.wts,
    output:
        model="results/train/{model}/model.keras",
    log:
        "logs/train/{model}.keras.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="wts_keras"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("keras_from_wts"),
        network=PLAN.network,
        input_size=config["data"]["images"]["input_size"],
    script:
        "../scripts/keras_from_wts.py"


rule train_charrnn:
    input:
        data=PLAN.text_data,
    output:
        model="results/train/{model}/model.keras",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="keras_charrnn"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["charrnn"]["threads"]
    resources:
        **res(runtime=60),
    params:
        **stage_params("train_charrnn"),
        train=config["train"]["charrnn"],
    script:
        "../scripts/train_charrnn.py"


rule train_nmt:
    input:
        data=PLAN.translation_data,
    output:
        index="results/train/{model}/translate.ckpt.index",
        data="results/train/{model}/translate.ckpt.data-00000-of-00001",
    log:
        "logs/train/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="tf_nmt"),
    cache: True
    conda:
        "../environment.yml"
    threads: config["train"]["nmt"]["threads"]
    resources:
        **res(runtime=60),
    params:
        **stage_params("train_nmt"),
        train=config["train"]["nmt"],
        langs=PLAN.langs,
    script:
        "../scripts/train_nmt.py"
