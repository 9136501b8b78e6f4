"""Dump every job a config plans, as JSON: rule, wildcards, input, output, log, benchmark,
params (the values the scripts get), threads, resources, conda environment and script. Two
dumps of the same config are equal exactly when the planned work is, so a refactoring of the
rules can be checked against a dump made before it.

It is the real ``snakemake`` command line (profiles, the workflow profile and the config
handled as in a plain run), asked for the DAG with ``--dag --forceall`` so that the dump does
not depend on what is already built; instead of printing the graph it writes the jobs.

    .venv/bin/python benchmarks/dag_dump.py OUT.json [snakemake args...]

e.g. ``benchmarks/dag_dump.py /tmp/tiny.json --configfile tests/configs/tiny.yaml``. Threads
are not capped by the machine's cores (``--cores 256``) so that a change of a rule's threads
shows. Run from the repository root; prints the number of jobs.
"""

import json
import sys
from pathlib import Path


def _named(items) -> dict:
    """A Snakemake Namedlist as {"files": [...], "names": {name: value}}."""
    names = {name: _plain(items[name]) for name in sorted(items._names)}
    return {"files": [str(value) for value in items], "names": names}


def _plain(value):
    """A value as JSON can hold it (paths and other objects by their text)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


def job_record(job) -> dict:
    """What one planned job does and needs."""
    return {
        "rule": job.rule.name,
        "wildcards": dict(sorted(job.wildcards_dict.items())),
        "input": _named(job.input),
        "output": _named(job.output),
        "log": _named(job.log),
        "benchmark": str(job.benchmark) if job.benchmark else None,
        "params": {name: _plain(job.params[name]) for name in sorted(job.params._names)},
        "threads": job.threads,
        "resources": {
            name: _plain(job.resources[name])
            for name in sorted(job.resources._names)
            if name != "tmpdir"
        },
        "conda": str(job.rule.conda_env) if job.rule.conda_env else None,
        "script": job.rule.script,
        "cache": str(job.rule.cache.flag) if job.rule.cache else None,
    }


def main() -> int:
    out, args = Path(sys.argv[1]), sys.argv[2:]
    from snakemake import cli
    from snakemake.workflow import Workflow

    def dump(workflow: Workflow) -> None:
        workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = sorted(
            (job_record(job) for job in workflow.dag.jobs),
            key=lambda r: (r["rule"], json.dumps(r["wildcards"]), r["output"]["files"]),
        )
        out.write_text(json.dumps(jobs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{out}: {len(jobs)} jobs", file=sys.stderr)

    Workflow.printdag = dump
    return cli.main(["--dag", "--forceall", "--cores", "256", *args])


if __name__ == "__main__":
    sys.exit(main())
