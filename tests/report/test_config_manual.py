"""The configuration manual: current with the schema, and written as the schema says."""

import subprocess
import sys

from tests.conftest import ROOT
from workflow.report.config_manual import config_manual

SCHEMA = {
    "description": "A tiny config.",
    "properties": {
        "mode": {"type": "string", "enum": ["a", "b"], "default": "a", "description": "Mode."},
        "train": {
            "type": "object",
            "description": "Training.",
            "required": ["epochs"],
            "properties": {
                "epochs": {"type": "integer", "description": "Passes over\n  the data."},
                "sizes": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
                "per_sample": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "default": {},
                    "description": "By sample | over the rest.",
                },
            },
        },
        "mine": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"model": {"oneOf": [{"type": "boolean"}, {"type": "string"}]}},
            },
        },
    },
}


def test_the_manual_lists_every_key_with_type_default_and_description():
    assert config_manual(SCHEMA).splitlines()[4:] == [
        "A tiny config.",
        "",
        "## `mode`",
        "",
        "Mode.",
        "",
        'Type: string (one of `a`, `b`). Default: `"a"`.',
        "",
        "## `train`",
        "",
        "Training.",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
        "| `train.epochs` | integer | required | Passes over the data. |",
        "| `train.sizes` | array of integer | `[1, 2]` |  |",
        "| `train.per_sample` | map of name to string | `{}` | By sample \\| over the rest. |",
        "",
        "## `mine`",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
        "| `mine.<name>.model` | boolean or string |  |  |",
    ]


def test_config_readme_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cli" / "config_manual.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
