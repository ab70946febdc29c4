"""optical_flow.compile_cache: TF_XLA_FLAGS set so that XLA writes its programs to disk."""

import os
import subprocess
import sys
import textwrap

import pytest

from optical_flow import compile_cache
from tfrecords.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_ONCE = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    from optical_flow import compile_cache

    compile_cache.use_compile_cache(sys.argv[1])  # after TensorFlow's import: still in time
    tf.function(lambda x: tf.sin(x) * 2.0, jit_compile=True)(tf.zeros([8, 8])).numpy()
    """
)


def test_an_xla_compile_writes_its_program_into_the_directory(tmp_path):
    cache = tmp_path / "xla"
    env = {k: v for k, v in os.environ.items() if k != compile_cache.XLA_FLAGS_VARIABLE}
    subprocess.run(
        [sys.executable, "-c", COMPILE_ONCE, str(cache)],
        cwd=REPO,
        env={**env, "PYTHONPATH": REPO},
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert [p.name.startswith("xla_compile_cache") for p in cache.iterdir()] == [True]


def test_flags_are_appended_once_and_a_second_directory_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.XLA_FLAGS_VARIABLE, "--tf_xla_auto_jit=0")
    compile_cache.use_compile_cache("")
    assert os.environ[compile_cache.XLA_FLAGS_VARIABLE] == "--tf_xla_auto_jit=0"
    first = str(tmp_path / "a")
    for _ in range(2):
        compile_cache.use_compile_cache(first)
    assert os.environ[compile_cache.XLA_FLAGS_VARIABLE] == (
        f"--tf_xla_auto_jit=0 {compile_cache.CACHE_FLAG}={first}"
    )
    assert os.path.isdir(first)
    with pytest.raises(UserError, match="already sets --tf_xla_persistent_cache_directory"):
        compile_cache.use_compile_cache(str(tmp_path / "b"))
