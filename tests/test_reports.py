"""Tests of metrics.json / confusion.png / results.md and the printed table."""

import json

import numpy as np
import pytest
from PIL import Image

from evaluation import metrics, reports

M1 = {"top1": 0.731, "top5": 0.9, "mean_class_accuracy": 0.7255, "num_videos": 3783}
M2 = {"top1": 0.788, "top5": 0.95, "mean_class_accuracy": 0.78, "num_videos": 3783}


def test_metrics_table_in_the_seeds_layout():
    table = reports.metrics_table([("Spatial", M1), ("Temporal", M2)])
    assert table.splitlines() == [
        "| | Top-1 | Top-5 | Mean class | Videos |",
        "|---|---:|---:|---:|---:|",
        "| Spatial | 73.1% | 90.0% | 72.5% | 3783 |",
        "| Temporal | 78.8% | 95.0% | 78.0% | 3783 |",
    ]


def test_results_markdown_and_notes():
    text = reports.results_markdown("Spatial, test", [("Spatial", M1)], ["a note"])
    assert text.startswith("# Spatial, test\n\n| |")
    assert text.endswith("- a note\n")
    assert "25 samples x 10 crops = 250 views" in reports.protocol_note(25, 10)
    assert "averaged" in reports.protocol_note(25, 10)
    assert "ties broken by the mean" in reports.protocol_note(25, 10, "vote")
    note = reports.classes_note(
        {"num_videos": 3, "num_classes": 4, "classes_without_videos": ["C", "D"]}
    )
    assert "2 classes without videos are excluded" in note and "C, D" in note
    assert "Top-5 is 100% by definition" in note
    assert "excluded" not in reports.classes_note(
        {"num_videos": 3, "num_classes": 101, "classes_without_videos": []}
    )


@pytest.mark.parametrize(("num_classes", "min_pixels"), [(4, 800), (101, 3000)])
def test_write_reports_files_and_plot_size(tmp_path, num_classes, min_pixels):
    rng = np.random.default_rng(0)
    labels = np.arange(3 * num_classes) % num_classes
    scores = rng.random((len(labels), num_classes))
    names = [f"LongClassName{i:03d}" for i in range(num_classes)]
    result = metrics.compute_metrics(labels, scores, names)
    out = str(tmp_path / "eval")
    reports.write_reports(
        out, result, metrics.confusion(labels, scores, num_classes), names, "T", [], ["n"]
    )
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == result
    width, height = Image.open(tmp_path / "eval" / "confusion.png").size
    assert width == height and width >= min_pixels
    assert "- n" in (tmp_path / "eval" / "results.md").read_text()


def test_confusion_figure_rows_are_normalised():
    counts = np.array([[3, 1, 0], [0, 0, 0], [0, 2, 2]])
    fig = reports.confusion_figure(counts, ["a", "b", "c"], "t")
    image = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(image, [[0.75, 0.25, 0], [0, 0, 0], [0, 0.5, 0.5]])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0.25", "0.50", "0.50", "0.75"]
