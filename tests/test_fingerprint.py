"""Code fingerprints: docstrings and comments do not count, code does; analyses are remembered."""

import json
import os

from workflow import fingerprint


def _module(tmp_path, text):
    path = tmp_path / "mod.py"
    path.write_text(text)
    fingerprint._analysis.cache_clear()
    return fingerprint._analysis(path)


def test_docstrings_and_comments_do_not_count_code_does(tmp_path):
    base = _module(
        tmp_path, '"""Doc."""\nimport workflow.io\n\ndef f():\n    """A."""\n    return 1\n'
    )
    docs = _module(tmp_path, '"""Other."""\nimport workflow.io\n# note\ndef f():\n    return 1\n')
    code = _module(tmp_path, '"""Doc."""\nimport workflow.io\n\ndef f():\n    return 2\n')
    assert base == docs and base[1] != code[1]
    assert base[0] == ("workflow.io",)


def test_analyses_are_remembered_and_renewed_when_the_file_changes(tmp_path, monkeypatch):
    store = tmp_path / "store.json"
    monkeypatch.setattr(fingerprint, "_STORE_PATH", None)  # restored after the test
    monkeypatch.setattr(fingerprint, "_STORE", {})
    monkeypatch.setattr(fingerprint, "_UNSAVED", False)
    fingerprint.remember_in(store)
    first = _module(tmp_path, "import workflow.errors\nx = 1\n")
    (tmp_path / "b").mkdir()
    second = _module(tmp_path / "b", "import workflow.io\n")
    assert not store.exists()  # written once, at exit (or on save), not per module
    fingerprint.save()
    saved = json.loads(store.read_text())
    assert saved[str(tmp_path / "b" / "mod.py")]["digest"] == second[1]
    assert saved[str(tmp_path / "mod.py")]["digest"] == first[1]
    # a remembered analysis is used as long as the file's time and size are the same ...
    saved[str(tmp_path / "mod.py")]["digest"] = "remembered"
    store.write_text(json.dumps(saved))
    monkeypatch.setattr(fingerprint, "_STORE", {})
    fingerprint.remember_in(store)
    fingerprint._analysis.cache_clear()
    assert fingerprint._analysis(tmp_path / "mod.py")[1] == "remembered"
    # ... and renewed when it changes
    path = tmp_path / "mod.py"
    path.write_text("import workflow.errors\nx = 2\n")
    os.utime(path, ns=(1, 1))
    fingerprint._analysis.cache_clear()
    assert fingerprint._analysis(path)[1] not in ("remembered", first[1])
