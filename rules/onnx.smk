rule onnx_export:
    input:
        weights="results/train/{model}/weights.pt",
        images=f"{PLAN.mnist_data}/test-images.idx",
        labels=f"{PLAN.mnist_data}/test-labels.idx",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="onnx", train="torch", network="lenet"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export"),
        **pick(config["onnx"], "opset tolerance batch_size"),
    script:
        "../scripts/onnx_export.py"


rule onnx_layers:
    input:
        wts=PLAN.wts,
        weights=PLAN.trained_weights,
        images=f"{PLAN.mnist_data}/test-images.idx",
        labels=f"{PLAN.mnist_data}/test-labels.idx",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
        network="results/onnx/{model}/network.json",
    log:
        "logs/onnx/{model}.layers.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder=("api", "refit"), unless={"network": "charrnn"}),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_layers"),
        **pick(config["onnx"], "opset tolerance batch_size"),
        **PLAN.network_params,
    script:
        "../scripts/onnx_layers.py"


rule onnx_export_tf:
    input:
        model="results/train/{model}/model.keras",
        images=f"{PLAN.mnist_data}/test-images.idx",
        labels=f"{PLAN.mnist_data}/test-labels.idx",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.tf.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="keras"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_tf"),
        **pick(config["onnx"], "opset tolerance batch_size"),
        plugins=PLAN.export_plugins,
    script:
        "../scripts/onnx_export_tf.py"


rule onnx_export_ssd:
    input:
        weights="results/train/{model}/weights.pt",
        test=f"{PLAN.detect_data}/test",
        classes=f"{PLAN.detect_data}/classes.txt",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.ssd.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="ssd"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_ssd"),
        **pick(config["onnx"], "opset tolerance parity_images"),
        batch_size=config["score"]["detect"]["batch_size"],
        nms=PLAN.graph_nms,
    script:
        "../scripts/onnx_export_ssd.py"


rule onnx_export_ncf:
    input:
        weights=PLAN.trained_weights,
        data=PLAN.movielens_data,
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.ncf.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="movielens", unless={"builder": "serve"}),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_ncf"),
        **pick(config["onnx"], "opset tolerance"),
        **pick(config["train"]["ncf"], "factors layers"),
        batch_size=config["score"]["recommend"]["batch_size"],
    script:
        "../scripts/onnx_export_ncf.py"


rule onnx_export_darknet:
    input:
        cfg=PLAN.yolo_cfg,
        weights=PLAN.darknet_weights,
        test=f"{PLAN.detect_data}/test",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.darknet.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="yolov3"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_darknet"),
        **pick(config["onnx"], "opset tolerance parity_images"),
        official=PLAN.official_files,
        batch_size=config["score"]["detect"]["batch_size"],
    script:
        "../scripts/onnx_export_darknet.py"


rule onnx_export_frcnn:
    input:
        weights=PLAN.trained_weights,
        test=f"{PLAN.detect_data}/test",
        classes=f"{PLAN.detect_data}/classes.txt",
    output:
        rpn="results/onnx/{model}_rpn/model.onnx",
        rpn_parity="results/onnx/{model}_rpn/model.parity.json",
        head="results/onnx/{model}_head/model.onnx",
        head_parity="results/onnx/{model}_head/model.parity.json",
    log:
        "logs/onnx/{model}.frcnn.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="faster_rcnn"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_frcnn"),
        **pick(config["onnx"], "opset tolerance parity_images"),
        batch_size=config["score"]["detect"]["batch_size"],
        detector=PLAN.detector,
    script:
        "../scripts/onnx_export_frcnn.py"


rule onnx_export_detector:
    input:
        weights=PLAN.trained_weights,
        test=f"{PLAN.detect_data}/test",
        classes=f"{PLAN.detect_data}/classes.txt",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.detector.log",
    wildcard_constraints:
        model=REGISTRY.pattern(task="detect", train="detector"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_export_detector"),
        **pick(config["onnx"], "opset tolerance parity_images"),
        batch_size=config["score"]["detect"]["batch_size"],
        detector=PLAN.detector,
    script:
        "../scripts/onnx_export_detector.py"


rule onnx_plugin_fc:
    input:
        plain=PLAN.plain_graph,
        images=f"{PLAN.mnist_data}/test-images.idx",
        labels=f"{PLAN.mnist_data}/test-labels.idx",
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.plugin.log",
    wildcard_constraints:
        model=REGISTRY.pattern(builder="onnx_plugin", train="none"),
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("onnx_plugin_fc"),
        **pick(config["onnx"], "tolerance batch_size"),
    script:
        "../scripts/onnx_plugin_fc.py"


rule byo_import:
    input:
        unpack(PLAN.byo_inputs),
    output:
        onnx="results/onnx/{model}/model.onnx",
        report="results/onnx/{model}/import.json",
        test="results/data/byo/{model}/test.npz",
        batches=directory("results/calibrate/{model}/batches"),
        evaluation=directory("results/data/byo/{model}/evaluation"),
    log:
        "logs/onnx/{model}.byo.log",
    wildcard_constraints:
        model=REGISTRY.pattern(data="byo"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("byo_import"),
        settings=PLAN.byo_settings,
        opset=config["onnx"]["opset"],
    script:
        "../scripts/byo_import.py"


rule onnx_export_images:
    input:
        weights="results/train/{model}/weights.pt",
        data=PLAN.images_data,
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.images.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="torch_images"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **PLAN.image_input,
        **stage_params("onnx_export_images"),
        **pick(config["onnx"], "opset tolerance batch_size"),
        network=PLAN.network,
        base_width=PLAN.base_width,
        imagenet=PLAN.imagenet_weights,
    script:
        "../scripts/onnx_export_images.py"


rule onnx_export_keras_images:
    input:
        model="results/train/{model}/model.keras",
        torch_graph=PLAN.torch_graph,
        data=PLAN.images_data,
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.keras.log",
    wildcard_constraints:
        model=REGISTRY.pattern(train="wts_keras"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **PLAN.image_input,
        **stage_params("onnx_export_keras_images"),
        **pick(config["onnx"], "opset tolerance frameworks_tolerance batch_size"),
    script:
        "../scripts/onnx_export_keras_images.py"


rule onnx_charrnn:
    input:
        wts2=PLAN.wts2,
        model=lambda wildcards: f"results/train/{PLAN.samples[wildcards.model]['weights']}/model.keras",
        data=PLAN.text_data,
    output:
        onnx="results/onnx/{model}/model.onnx",
        parity="results/onnx/{model}/model.parity.json",
    log:
        "logs/onnx/{model}.charrnn.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="charrnn"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_charrnn"),
        **pick(config["onnx"], "opset tolerance parity_windows"),
        **pick(config["score"]["charrnn"], "window seed_text generate"),
    script:
        "../scripts/onnx_charrnn.py"


rule onnx_nmt:
    input:
        unpack(PLAN.nmt_bins),
        index=lambda wildcards: f"results/train/{PLAN.samples[wildcards.model]['weights']}/translate.ckpt.index",
        data=PLAN.translation_data,
    output:
        encoder="results/onnx/{model}_encoder/model.onnx",
        decoder="results/onnx/{model}_decoder/model.onnx",
        parity="results/onnx/{model}_decoder/model.parity.json",
    log:
        "logs/onnx/{model}.nmt.log",
    wildcard_constraints:
        model=REGISTRY.pattern(network="nmt"),
    conda:
        "../environment.yml"
    resources:
        **res(),
    params:
        **stage_params("onnx_nmt"),
        **pick(config["onnx"], "opset tolerance parity_sentences"),
        train=config["train"]["nmt"],
        langs=PLAN.langs,
    script:
        "../scripts/onnx_nmt.py"
