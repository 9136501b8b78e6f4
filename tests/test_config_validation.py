"""The Snakefile's config validation (``validate_config``) leaves the config exactly as
Snakemake's ``validate`` does, and the YAML files read with libyaml read as PyYAML reads them."""

import copy
import json

import pytest
import yaml
from snakemake.utils import update_config
from snakemake.utils import validate as snakemake_validate

from tests.conftest import ROOT
from workflow.errors import PipelineError
from workflow.samples import CONFIG_SCHEMA, read_schema, read_yaml, validate_config

DEFAULT = ROOT / "config" / "config.yaml"
TINY = ROOT / "tests" / "configs" / "tiny.yaml"


def _config(name: str) -> dict:
    """The default config, or the tiny config over it as ``--configfile`` lays it."""
    config = yaml.safe_load(DEFAULT.read_text())
    if name == "tiny":
        update_config(config, yaml.safe_load(TINY.read_text()))
    return config


@pytest.mark.parametrize(
    "path",
    [*sorted((ROOT / "config").glob("*.yaml")), TINY],
    ids=lambda p: p.name,
)
def test_libyaml_reads_the_files_as_pyyaml_does(path):
    ours, reference = read_yaml(path), yaml.load(path.read_text(), Loader=yaml.SafeLoader)
    assert repr(ours) == repr(reference)  # values, their types and the keys' order


@pytest.mark.parametrize("name", ["default", "tiny"])
def test_the_validated_config_is_the_one_snakemake_validate_leaves(name, tmp_path):
    reference = _config(name)
    snakemake_validate(reference, str(CONFIG_SCHEMA))
    ours = _config(name)
    validate_config(ours)
    assert ours == reference
    assert repr(ours) == repr(reference)  # the same keys in the same order, at every level
    for _ in ("validated", "read back"):
        remembered = _config(name)
        validate_config(remembered, remember_in=tmp_path / "validated.json")
        assert repr(remembered) == repr(reference)
    assert len(ours["engine"]) > len(_config(name).get("engine", {}))  # defaults were filled

    # a filled default is the config's own: changing it changes no later validation
    ours["train"]["frcnn"]["anchor_sizes"].append(1024)
    ours["fp16"]["keep_fp32"].clear()
    again = _config(name)
    validate_config(again)
    assert repr(again) == repr(reference)


def test_a_config_that_fails_is_left_as_it_was():
    config = _config("default") | {"precisionz": ["fp32"]}
    before = copy.deepcopy(config)
    with pytest.raises(PipelineError, match="unknown key 'precisionz'"):
        validate_config(config)
    assert config == before


def test_a_schema_is_parsed_once_until_its_file_changes(tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text("type: object\nproperties: {a: {type: integer, default: 1}}\n")
    first = read_schema(schema)
    assert read_schema(schema) is first
    schema.write_text("type: object\nproperties: {a: {type: integer, default: 22}}\n")
    assert read_schema(schema)["properties"]["a"]["default"] == 22
    config = {}
    validate_config(config, schema)
    assert config == {"a": 22}


def test_a_validated_config_is_read_back_until_the_config_or_schema_changes(tmp_path):
    schema, store = tmp_path / "schema.yaml", tmp_path / "validated.json"
    schema.write_bytes(CONFIG_SCHEMA.read_bytes())
    validate_config(_config("default"), schema, remember_in=store)
    kept = json.loads(store.read_text())
    kept["config"]["engine"]["workspace_mib"] = "remembered"
    store.write_text(json.dumps(kept))
    again = _config("default")
    validate_config(again, schema, remember_in=store)
    assert again["engine"]["workspace_mib"] == "remembered"  # read back, not validated

    # another config, or another schema, is validated anew
    for config in (_config("tiny"), _config("default") | {"samples": ["mnist"]}):
        validate_config(config, schema, remember_in=store)
        assert config["engine"]["workspace_mib"] != "remembered"
    store.write_text(json.dumps(kept))
    schema.write_text(schema.read_text() + "\n# edited\n")
    edited = _config("default")
    validate_config(edited, schema, remember_in=store)
    assert edited["engine"]["workspace_mib"] != "remembered"

    # a config that JSON does not hold exactly (a tuple, a number as key) is never remembered
    schema.write_text("type: object\nproperties: {a: {default: 1}}\n")
    for odd in ({"b": (1, 2)}, {"b": {2: "two"}}):
        validate_config(odd, schema, remember_in=tmp_path / "odd.json")
        assert odd["a"] == 1 and not (tmp_path / "odd.json").exists()
    validate_config({"b": [1, 2]}, schema, remember_in=store)  # JSON writes the tuple so
    odd = {"b": (1, 2)}
    validate_config(odd, schema, remember_in=store)
    assert odd == {"b": (1, 2), "a": 1}  # ... but it is not read back for it
