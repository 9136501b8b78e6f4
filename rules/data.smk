rule data_download_mnist:
    output:
        raw=f"{config['mnist']['download']['dir']}/{{file}}",
    log:
        "logs/data/download_{file}.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=512,
        runtime=10,
    params:
        code=code_of("data_download_mnist"),
        base_url=config["mnist"]["download"]["base_url"],
        timeout_s=config["mnist"]["download"]["timeout_s"],
        md5=get_mnist_md5,
    script:
        "../scripts/data_download_mnist.py"


rule data_mnist:
    input:
        unpack(get_mnist_sources),
    output:
        train_images=f"{MNIST_DATA}/train-images.idx",
        train_labels=f"{MNIST_DATA}/train-labels.idx",
        test_images=f"{MNIST_DATA}/test-images.idx",
        test_labels=f"{MNIST_DATA}/test-labels.idx",
    log:
        "logs/data/mnist.log",
    cache: True
    conda:
        "../environment.yml"
    resources:
        mem_mb=2048,
        runtime=10,
    params:
        code=code_of("data_mnist"),
        source=config["mnist"]["source"],
        seed=config["mnist"]["seed"],
        test_fraction=config["mnist"]["test_fraction"],
        test_count=config["mnist"]["idx"]["test_count"],
        base_url=config["mnist"]["download"]["base_url"],
    script:
        "../scripts/data_mnist.py"


rule data_pgm:
    input:
        images=f"{MNIST_DATA}/test-images.idx",
        labels=f"{MNIST_DATA}/test-labels.idx",
    output:
        pgm=expand(f"{MNIST_DATA}/pgm/{{digit}}.pgm", digit=range(10)),
    log:
        "logs/data/pgm.log",
    conda:
        "../environment.yml"
    resources:
        mem_mb=1024,
        runtime=5,
    params:
        code=code_of("data_pgm"),
    script:
        "../scripts/data_pgm.py"
