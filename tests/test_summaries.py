import pytest

from training import summaries


@pytest.mark.parametrize(
    "seconds, text", [(0.4, "0s"), (59.9, "59s"), (61, "1m01s"), (3723, "1h02m03s"), (-5, "0s")]
)
def test_format_duration(seconds, text):
    assert summaries.format_duration(seconds) == text


def test_window_scalars():
    window = summaries.Window()
    window.add([1.0, 3.0], correct=6.0, examples=16)
    window.add([2.0], correct=2.0, examples=8)
    scalars = window.scalars(learning_rate=0.01)
    assert scalars["loss"] == pytest.approx(2.0)
    assert scalars["accuracy"] == pytest.approx(8 / 24)
    assert scalars["learning_rate"] == 0.01
    assert scalars["examples_per_second"] > 0 and scalars["seconds_per_step"] > 0


def _scalars(loss: float) -> dict[str, float]:
    window = summaries.Window()
    window.add([loss], correct=1.0, examples=2)
    return window.scalars(learning_rate=0.1)


def test_written_scalars_read_back_and_later_runs_win(tmp_path):
    workdir = str(tmp_path)
    first = summaries.Summaries(workdir, enabled=True)
    for step in (1, 2):
        first.write(step, 4, _scalars(float(step)))
    first.close()
    second = summaries.Summaries(workdir, enabled=True)
    second.write(2, 4, _scalars(20.0))
    second.close()
    scalars = summaries.read_scalars(workdir)
    assert scalars["loss"] == {1: 1.0, 2: 20.0}


def test_non_chief_writes_nothing(tmp_path):
    writer = summaries.Summaries(str(tmp_path), enabled=False)
    writer.write(1, 2, _scalars(1.0))
    writer.close()
    assert summaries.read_scalars(str(tmp_path)) == {}
