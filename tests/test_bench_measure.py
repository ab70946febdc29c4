"""The benchmarks' shared measurement helpers: best-of-rounds, the table, the work dir."""

import os

from bench import bench_data, measure
from bench.measure import Rate


def test_best_keeps_the_round_with_the_lowest_cpu_whole():
    # Never a mix of two rounds (10.0 samples/s from one, 1.0 ms from the other).
    assert Rate(10.0, 2.0).best(Rate(5.0, 1.0)) == Rate(5.0, 1.0)
    assert Rate(5.0, 1.0).best(Rate(10.0, 2.0)) == Rate(5.0, 1.0)
    assert Rate(4.0, 1.0).best(Rate(6.0, 1.0)) == Rate(4.0, 1.0)
    assert Rate(3.0, 4.0).best(None) == Rate(3.0, 4.0)
    best = {}
    measure.keep_best(best, "a", Rate(1.0, 9.0), 0)
    measure.keep_best(best, "a", Rate(2.0, 9.5), 1)
    measure.keep_best(best, "b", Rate(7.0, 0.5), 1)
    assert best == {"a": Rate(1.0, 9.0), "b": Rate(7.0, 0.5)}


def test_print_rates_and_describe_data(capsys):
    measure.print_rates({"spatial": Rate(2921.04, 0.6412), "temporal x": Rate(852.0, 2.27)}, 2)
    assert capsys.readouterr().out.splitlines() == [
        "            samples/s  CPU ms/sample",
        "spatial        2921.0           0.64",
        "temporal x      852.0           2.27",
    ]
    data = bench_data.BenchData(
        "records",
        "frames",
        ["a", "b", "c"],
        [4, 5, 6],
        [0, 1, 0],
        [b"x" * 1000, b"x" * 3000],
        [b"y" * 500],
    )
    assert measure.describe_data(data, mean_frames=5, num_shards=2) == (
        "3 videos x 5 frames (mean), RGB JPEG 2.0 KB, flow JPEG 0.5 KB, 2 shards"
    )


def test_measure_iterator_counts_labels_and_closes_the_iterator():
    state = {"batches": 0, "closed": False}

    def batches():
        try:
            while True:
                state["batches"] += 1
                yield "inputs", [0, 1, 2]
        finally:
            state["closed"] = True

    rate = measure.measure_iterator(batches, seconds=0.01, warmup=0.0)
    assert state["closed"] and state["batches"] >= 1
    assert rate.per_second > 0 and rate.cpu_ms >= 0


def test_work_dir_deletes_only_the_temp_dir_it_made(tmp_path):
    with measure.work_dir(str(tmp_path), "unused_") as root:
        assert root == str(tmp_path)
    assert tmp_path.is_dir()
    with measure.work_dir("", "bench_test_") as root:
        assert os.path.basename(root).startswith("bench_test_") and os.path.isdir(root)
    assert not os.path.exists(root)


def test_pin_process_keeps_the_first_cpus_and_sets_the_allocator(monkeypatch):
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    before = os.sched_getaffinity(0)
    try:
        assert measure.pin_process(1, bfc_allocator=False) == [min(before)]
        assert os.sched_getaffinity(0) == {min(before)}
        assert "TF_CPU_ALLOCATOR_USE_BFC" not in os.environ
        measure.pin_process(1, bfc_allocator=True)
        assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    finally:
        os.sched_setaffinity(0, before)
