rule train_torch:
    input:
        images=f"{MNIST_DATA}/train-images.idx",
        labels=f"{MNIST_DATA}/train-labels.idx",
    output:
        weights="results/train/{model}/weights.pt",
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    conda:
        "../environment.yml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4096,
        runtime=60,
    params:
        seed=config["train"]["seed"],
        epochs=config["train"]["epochs"],
        batch_size=config["train"]["batch_size"],
        learning_rate=config["train"]["learning_rate"],
        momentum=config["train"]["momentum"],
        weight_decay=config["train"]["weight_decay"],
        threads=config["train"]["threads"],
    script:
        "../scripts/train_torch.py"
