"""Known answers of tfrecords/output_checks.py on temporary folders (local paths) and on
TensorFlow's in-memory file system (`ram://`, the `tf.io.gfile` branch that `gs://` takes)."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from tfrecords import output_checks
from tfrecords.errors import UserError
from tfrecords.output_checks import (
    check_data_dir,
    check_input_dir,
    check_input_file,
    check_output_dir,
    check_output_file,
)


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
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(output_checks, "open", refuse, raising=False)
    with pytest.raises(UserError, match=rf"^{tmp_path}/p\.json: cannot write in {tmp_path} \("):
        check_output_file(str(tmp_path / "p.json"), "--output_json")
    with pytest.raises(UserError, match=r"; give --output_dir a location you can write to$"):
        check_output_dir(str(tmp_path / "out"), "--output_dir")


def test_url_paths_go_through_gfile():
    """`ram://` is a `tf.io.gfile` file system like `gs://`: same answers, nothing left."""
    root = "ram://checks"
    tf.io.gfile.makedirs(f"{root}/d")
    with tf.io.gfile.GFile(f"{root}/f", "w") as f:
        f.write("x")
    check_output_dir(f"{root}/d/new", "--output_dir")
    check_output_file(f"{root}/d/p.json", "--output_json")
    with pytest.raises(UserError, match=r"^ram://checks/f: is a file, not a folder; give --w"):
        check_output_dir(f"{root}/f", "--workdir")
    with pytest.raises(UserError, match=r"^ram://checks/f/x: ram://checks/f is a file, not a"):
        check_output_dir(f"{root}/f/x", "--export_dir")
    with pytest.raises(UserError, match=r"^ram://checks/d: is a folder; give --sheet a file"):
        check_output_file(f"{root}/d", "--sheet")
    with pytest.raises(UserError, match=r"^ram://checks/none: no such folder; give --data_dir"):
        check_input_dir(f"{root}/none", "--data_dir")
    assert sorted(tf.io.gfile.listdir(f"{root}/d")) == []


def test_input_checks(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    check_input_dir(str(tmp_path / "d"), "--workdir")
    (tmp_path / "tfds").mkdir()
    (tmp_path / "tfds" / "dataset_info.json").write_text("{}")
    check_data_dir(str(tmp_path / "tfds"))  # a TFDS data directory
    check_input_file(str(tmp_path / "f"), "--checkpoint")
    cases = [
        (
            lambda: check_input_dir(str(tmp_path / "none"), "--data_dir", fix="preprocessing"),
            f"{tmp_path}/none: no such folder; give --data_dir an existing folder "
            "(preprocessing writes it)",
        ),
        (
            lambda: check_input_dir(str(tmp_path / "f"), "--data_dir"),
            f"{tmp_path}/f: is a file, not a folder; give --data_dir a folder",
        ),
        (
            lambda: check_input_dir(str(tmp_path / "d"), "--data_dir", needs=("manifest.json",)),
            f"{tmp_path}/d: has no manifest.json; give --data_dir a folder that has one",
        ),
        (
            lambda: check_input_file(str(tmp_path / "none"), "--fuse"),
            f"{tmp_path}/none: no such file; give --fuse an existing file",
        ),
        (
            lambda: check_input_file(str(tmp_path / "d"), "--fuse"),
            f"{tmp_path}/d: is a folder; give --fuse a file",
        ),
    ]
    for check, message in cases:
        with pytest.raises(UserError) as error:
            check()
        assert str(error.value) == message


def test_local_checks_load_no_tensorflow(tmp_path):
    """A binary checks its local paths before TensorFlow loads (tfrecords/startup.py)."""
    code = (
        "import sys; from tfrecords import output_checks as c; "
        f"c.check_output_dir({str(tmp_path / 'o')!r}, '--o'); "
        f"c.check_input_dir({str(tmp_path)!r}, '--i'); "
        "print('tensorflow' in sys.modules)"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
