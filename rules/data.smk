rule data_download_mnist:
    output:
        raw=f"{config['data']['mnist']['download']['dir']}/{{file}}",
    log:
        "logs/data/download_{file}.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=512, runtime=10),
    params:
        code=code_of("data_download"),
        url=PLAN.download("url"),
        timeout_s=PLAN.download("timeout_s"),
        md5=PLAN.download("md5"),
    script:
        "../scripts/data_download.py"


rule data_mnist:
    input:
        unpack(PLAN.mnist_sources),
    output:
        train_images=f"{PLAN.mnist_data}/train-images.idx",
        train_labels=f"{PLAN.mnist_data}/train-labels.idx",
        test_images=f"{PLAN.mnist_data}/test-images.idx",
        test_labels=f"{PLAN.mnist_data}/test-labels.idx",
    log:
        "logs/data/mnist.log",
    cache: True
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048, runtime=10),
    params:
        **stage_params("data_mnist"),
        **pick(config["data"]["mnist"], "source seed test_fraction"),
        test_count=config["data"]["mnist"]["idx"]["test_count"],
        base_url=config["data"]["mnist"]["download"]["base_url"],
    script:
        "../scripts/data_mnist.py"


rule data_pgm:
    input:
        **PLAN.mnist("test"),
    output:
        pgm=expand(f"{PLAN.mnist_data}/pgm/{{digit}}.pgm", digit=range(10)),
    log:
        "logs/data/pgm.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        **stage_params("data_pgm"),
    script:
        "../scripts/data_pgm.py"


rule data_shapes:
    output:
        train=directory("results/data/shapes/train"),
        test=directory("results/data/shapes/test"),
        classes="results/data/shapes/classes.txt",
    log:
        "logs/data/shapes.log",
    benchmark:
        "benchmarks/data/shapes.tsv"
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=30),
    params:
        **stage_params("data_shapes"),
        shapes=config["data"]["detect"]["shapes"],
    script:
        "../scripts/data_shapes.py"


use rule data_download_mnist as data_download_voc2007 with:
    output:
        raw=f"{config['data']['detect']['voc2007']['dir']}/{{archive}}",
    log:
        "logs/data/download_{archive}.log",
    wildcard_constraints:
        archive="|".join(re.escape(name) for name, _ in VOC2007_ARCHIVES.values()),
    resources:
        **res(mem_mb=2048, runtime=60),


rule data_voc2007:
    input:
        unpack(PLAN.detect_sources),
    output:
        train=directory("results/data/voc2007/train"),
        test=directory("results/data/voc2007/test"),
        classes="results/data/voc2007/classes.txt",
    log:
        "logs/data/voc2007.log",
    benchmark:
        "benchmarks/data/voc2007.tsv"
    conda:
        "../environment.yml"
    resources:
        **res(runtime=120),
    params:
        **stage_params("data_voc2007"),
        base_url=config["data"]["detect"]["voc2007"]["base_url"],
        limits={
            "train": config["data"]["detect"]["voc2007"]["train_limit"],
            "test": config["data"]["detect"]["voc2007"]["test_limit"],
        },
    script:
        "../scripts/data_voc2007.py"


use rule data_download_mnist as data_download_movielens with:
    output:
        raw=f"{config['data']['movielens']['download']['dir']}/{ML1M_ARCHIVE[0]}",
    log:
        "logs/data/download_movielens.log",
    resources:
        **res(mem_mb=1024, runtime=30),


rule data_movielens:
    input:
        unpack(PLAN.movielens_sources),
    output:
        folder=directory(PLAN.movielens_data),
    log:
        "logs/data/movielens.log",
    cache: True
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048),
    params:
        **stage_params("data_movielens"),
        **pick(config["data"]["movielens"], "source negatives seed"),
        url=config["data"]["movielens"]["download"]["url"],
        generate=PLAN.movielens_generation,
    script:
        "../scripts/data_movielens.py"


use rule data_download_mnist as data_download_darknet with:
    output:
        raw=f"{PLAN.darknet_dir}/{{darknet_file}}",
    log:
        "logs/data/download_{darknet_file}.log",
    wildcard_constraints:
        darknet_file="|".join(re.escape(name) for name in OFFICIAL_YOLOV3),
    resources:
        **res(mem_mb=2048, runtime=60),


rule data_detect_folder:
    input:
        unpack(PLAN.detect_sources),
    output:
        train=directory("results/data/folder/train"),
        test=directory("results/data/folder/test"),
        classes="results/data/folder/classes.txt",
    log:
        "logs/data/folder.log",
    conda:
        "../environment.yml"
    resources:
        **res(runtime=30),
    params:
        **stage_params("data_detect_folder"),
    script:
        "../scripts/data_detect_folder.py"


use rule data_download_mnist as data_download_imagenet with:
    output:
        raw=f"{PLAN.imagenet_dir}/{{imagenet_file}}",
    log:
        "logs/data/download_{imagenet_file}.log",
    wildcard_constraints:
        imagenet_file="|".join(re.escape(name) for name in PLAN.imagenet_files),
    resources:
        **res(mem_mb=2048, runtime=60),


rule data_images:
    input:
        unpack(PLAN.images_sources),
        unpack(PLAN.images_class_index),
    output:
        data=directory(PLAN.images_data),
    log:
        "logs/data/images.log",
    benchmark:
        "benchmarks/data/images.tsv"
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=2048),
    params:
        **stage_params("data_images"),
        **pick(config["data"]["images"], "source classes generated"),
        index_md5=IMAGENET_CLASS_INDEX,
    script:
        "../scripts/data_images.py"


rule data_text:
    input:
        unpack(PLAN.text_sources),
    output:
        data=directory(PLAN.text_data),
    log:
        "logs/data/text.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        **stage_params("data_text"),
        **pick(config["data"]["text"], "source test_fraction"),
    script:
        "../scripts/data_text.py"


use rule data_download_mnist as data_download_wmt16 with:
    output:
        raw=f"{PLAN.wmt16_dir}/{{wmt16_file}}",
    log:
        "logs/data/download_{wmt16_file}.log",
    wildcard_constraints:
        wmt16_file="|".join(re.escape(name) for name in WMT16_FILES),
    resources:
        **res(mem_mb=1024, runtime=30),


rule data_translation:
    input:
        unpack(PLAN.translation_sources),
    output:
        data=directory(PLAN.translation_data),
    log:
        "logs/data/translation.log",
    conda:
        "../environment.yml"
    resources:
        **res(mem_mb=1024, runtime=5),
    params:
        **stage_params("data_translation"),
        translation={k: v for k, v in PLAN.translation.items() if k != "wmt16"},
    script:
        "../scripts/data_translation.py"
