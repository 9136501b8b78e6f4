"""MTCNN's pretrained P-Net, R-Net and O-Net as your own models (tests/configs/byo/mtcnn.yaml):
graphs of several outputs, P-Net's height and width dynamic with the configured profile, .npz
feeds of generated images; FP32, FP16 and INT8 graphs, TensorRT-RTX engines and per-output
agreement with FP32 from the config alone."""

import json

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, copy_workflow, planned_jobs, snakemake
from tests.e2e.conftest import PRECISIONS
from tests.models.test_mtcnn import graphs, nets, state_dicts, wheel  # noqa: F401 (fixtures)
from workflow.models import mtcnn

CONFIG = ROOT / "tests" / "configs" / "byo" / "mtcnn.yaml"
#: Feed shapes (rows, height, width): P-Net's sizes vary within its profile.
FEEDS = {
    "pnet": {"calibration": [(4, 48, 64), (2, 96, 128), (4, 24, 36)], "evaluation": [(2, 64, 80)]},
    "rnet": {"calibration": [(32, 24, 24)] * 3, "evaluation": [(32, 24, 24)] * 2},
    "onet": {"calibration": [(32, 48, 48)] * 3, "evaluation": [(32, 48, 48)] * 2},
}


def _write_models(work, graphs) -> None:  # noqa: F811 (the fixture's value)
    """The ONNX graphs and .npz feeds where the config's entries name them."""
    entries = yaml.safe_load(CONFIG.read_text())["byo"]
    for index, (name, graph) in enumerate(graphs.items()):
        (work / entries[name]["model"]).parent.mkdir(parents=True, exist_ok=True)
        (work / entries[name]["model"]).write_bytes(graph)
        for offset, (split, shapes) in enumerate(FEEDS[name].items()):
            folder = work / entries[name]["data"][split]
            folder.mkdir(parents=True)
            feeds = mtcnn.mtcnn_feeds(name, shapes, seed=1000 * index + 500 * offset)
            for k, feed in enumerate(feeds):
                np.savez(folder / f"{k:02d}.npz", **feed)


@pytest.mark.slow
def test_mtcnn_networks_get_graphs_engines_and_agreement_from_the_config(tmp_path, graphs):  # noqa: F811
    work = copy_workflow(tmp_path / "work")
    _write_models(work, graphs)
    config = ["--configfile", str(CONFIG)]
    plan = planned_jobs(snakemake(work, "-n", *config).stdout)
    assert plan["byo_import"] == 3 and plan["engine_build"] == 9
    agreement = [
        f"results/precision/{name}/{precision}.agreement.json"
        for name in mtcnn.NETWORKS
        for precision in PRECISIONS[1:]
    ]
    snakemake(work, "all", *agreement, "--cores", "2", *config)
    for name in mtcnn.NETWORKS:
        report = json.loads((work / f"results/onnx/{name}/import.json").read_text())
        assert report["task"] == "none" and report["batched"] == [mtcnn.INPUT_NAME]
        for precision in PRECISIONS:
            meta = json.loads((work / f"engines/{name}_{precision}.plan.json").read_text())
            assert meta["plan"]["bytes"] > 1000
            assert [o["name"] for o in meta["outputs"]] == list(mtcnn.OUTPUTS[name])
            profile = meta["build"]["profile"][mtcnn.INPUT_NAME]
            if name == "pnet":
                assert [profile[k][2:] for k in ("min", "opt", "max")] == [
                    [12, 12],
                    [48, 48],
                    [128, 128],
                ]
            else:
                side = mtcnn.INPUT_SIDE[name]
                assert profile["min"] == [1, 3, side, side] and profile["max"][0] == 64
            layers = json.loads((work / f"engines/{name}_{precision}.layers.json").read_text())
            assert layers["in_intended"] == layers["compute_count"] > 0
            score = json.loads(
                (work / f"results/score/{name}/{precision}/accuracy.json").read_text()
            )
            assert score["task"] == "none"
            assert set(score["outputs"]) == set(mtcnn.OUTPUTS[name])
            if precision == "fp32":
                continue
            compared = json.loads(
                (work / f"results/precision/{name}/{precision}.agreement.json").read_text()
            )
            floor = {"fp16": 0.9999, "int8": 0.99}[precision]  # percentile ranges
            outputs = {output["name"]: output for output in compared["outputs"]}
            print(
                f"{name} {precision}: plan {meta['plan']['bytes']} B, "
                f"{layers['in_intended']}/{layers['compute_count']} in {precision}, "
                + ", ".join(
                    f"{k} cos {v['cosine']:.6f} max|d| {v['max_abs']:.2e}"
                    for k, v in outputs.items()
                )
            )
            assert list(outputs) == list(mtcnn.OUTPUTS[name])
            for output, values in outputs.items():
                assert values["cosine"] > floor, (name, precision, output, values)
