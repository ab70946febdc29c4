"""Known answers of tfrecords/output_checks.py on temporary folders (local paths)."""

import os

import pytest
import tensorflow as tf

from tfrecords.errors import UserError
from tfrecords.output_checks import check_output_dir, check_output_file


def _left(folder):
    """Every path under `folder`: the checks must leave nothing behind."""
    return sorted(
        os.path.relpath(os.path.join(d, n), folder)
        for d, ds, fs in os.walk(folder)
        for n in ds + fs
    )


def test_writable_and_creatable_outputs_pass_and_create_nothing(tmp_path):
    (tmp_path / "old.json").write_text("[1]")
    check_output_file(str(tmp_path / "old.json"), "--output_json")  # overwritten later
    check_output_file(str(tmp_path / "new" / "sub" / "p.json"), "--output_json")
    check_output_dir(str(tmp_path), "--output_dir")
    check_output_dir(str(tmp_path / "new" / "sub"), "--output_dir")
    assert _left(tmp_path) == ["old.json"]
    assert (tmp_path / "old.json").read_text() == "[1]"


def test_relative_paths_are_checked_from_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_output_file("p.json", "--output_json")
    check_output_dir("a/b", "--output_dir")
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match=r"^f/p\.json: f is a file, not a folder; give --sheet"):
        check_output_file("f/p.json", "--sheet")
    assert _left(tmp_path) == ["f"]


def test_a_file_where_a_folder_is_meant_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    f = str(tmp_path / "f")
    with pytest.raises(UserError) as error:
        check_output_dir(f, "--output_dir")
    assert str(error.value) == f"{f}: is a file, not a folder; give --output_dir a folder"
    with pytest.raises(UserError) as error:
        check_output_dir(f"{f}/sub", "--output_dir")
    assert str(error.value) == (
        f"{f}/sub: {f} is a file, not a folder; give --output_dir a path under a folder "
        f"(or move the file {f} away)"
    )
    with pytest.raises(UserError, match=rf"^{f}/a/p\.json: {f} is a file, not a folder;"):
        check_output_file(f"{f}/a/p.json", "--output_json")
    assert _left(tmp_path) == ["f"] and (tmp_path / "f").read_text() == "x"


def test_a_folder_where_a_file_is_meant_is_refused(tmp_path):
    with pytest.raises(UserError) as error:
        check_output_file(str(tmp_path), "--output_json")
    assert str(error.value) == (
        f"{tmp_path}: is a folder; give --output_json a file name, e.g. {tmp_path}/out"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for check, path in (
            (check_output_file, folder / "p.json"),
            (check_output_dir, folder / "out"),
        ):
            with pytest.raises(UserError, match=rf"^{path}: cannot write in {folder} \(.*\); "):
                check(str(path), "--flag")
    finally:
        folder.chmod(0o755)
    assert _left(folder) == []


def test_a_failed_write_probe_is_refused_and_names_the_folder(tmp_path, monkeypatch):
    """The read-only case's message path, runnable as root: the probe's write is refused."""

    def refuse(path, mode):
        raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")

    monkeypatch.setattr(tf.io.gfile, "GFile", refuse)
    with pytest.raises(UserError, match=rf"^{tmp_path}/p\.json: cannot write in {tmp_path} \("):
        check_output_file(str(tmp_path / "p.json"), "--output_json")
    with pytest.raises(UserError, match=r"; give --output_dir a location you can write to$"):
        check_output_dir(str(tmp_path / "out"), "--output_dir")
