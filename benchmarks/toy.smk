# A two-rule toy workflow: the yardstick of `benchmarks/dry_run.py`. What Snakemake
# itself costs for `snakemake -n` on an up-to-date tree, with nothing of this project loaded.


rule all:
    input:
        "b.txt",


rule first:
    output:
        "a.txt",
    log:
        "a.log",
    shell:
        "echo a > {output} 2> {log}"


rule second:
    input:
        "a.txt",
    output:
        "b.txt",
    log:
        "b.log",
    shell:
        "cp {input} {output} 2> {log}"
