import pytest

from workflow.data.download import check_md5, fetch, md5_hex
from workflow.errors import DataError


def test_fetch_checks_the_md5(tmp_path):
    source = tmp_path / "remote.gz"
    source.write_bytes(b"payload")
    data = fetch(source.as_uri(), tmp_path / "local.gz", md5=md5_hex(b"payload"), timeout_s=5)
    assert data == b"payload"
    with pytest.raises(DataError, match="has md5 .* expected 0+ .*place it at .*local.gz"):
        fetch(source.as_uri(), tmp_path / "local.gz", md5="0" * 32, timeout_s=5)


def test_unreachable_source_says_where_to_put_the_file(tmp_path):
    dest = tmp_path / "resources" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataError) as err:
        fetch((tmp_path / "absent").as_uri(), dest, md5="ab" * 16, timeout_s=5)
    message = str(err.value)
    assert message.startswith(f"{dest} | download of ")
    assert f"place it at {dest} (md5 {'ab' * 16})" in message


def test_check_md5(tmp_path):
    path = tmp_path / "file"
    with pytest.raises(DataError, match="missing"):
        check_md5(path, "0" * 32)
    path.write_bytes(b"abc")
    assert check_md5(path, md5_hex(b"abc")) == b"abc"
    with pytest.raises(DataError, match="expected 0+"):
        check_md5(path, "0" * 32)


def test_files_placed_by_hand_are_checked_by_role(tmp_path):
    from workflow.data.download import check_files

    (tmp_path / "a.cfg").write_bytes(b"[net]")
    files = {"cfg": str(tmp_path / "a.cfg"), "weights": str(tmp_path / "w")}
    check_files(files, {"cfg": ("https://host/a.cfg", md5_hex(b"[net]"))})
    with pytest.raises(DataError, match=r"w \| missing \| download it by hand from https://host/w"):
        check_files(files, {"weights": ("https://host/w", "1" * 32)})


def test_sha256_prefixes_as_torchvision_names_its_files(tmp_path):
    import hashlib

    from workflow.data.download import digest

    data = b"weights"
    prefix = "sha256:" + hashlib.sha256(data).hexdigest()[:8]
    assert digest(data, prefix) == prefix and digest(data, "0" * 32) == md5_hex(data)
    path = tmp_path / "resnet50-0676ba61.pth"
    path.write_bytes(data)
    assert check_md5(path, prefix) == data
    with pytest.raises(DataError, match=r"checksum sha256:\w{8}, expected sha256:0676ba61"):
        check_md5(path, "sha256:0676ba61", url="https://download.pytorch.org/models/x.pth")
