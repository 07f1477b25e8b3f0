"""The retraining notebooks run end to end in a real kernel, against a copy of the shared workspace."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from mlflow import MlflowClient
from nbclient import NotebookClient

from training import tracking

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "churn_retrain.ipynb"
CELL_TIMEOUT_S = 300
# Appended to the notebook: hands the comparison back to the test as one JSON line.
REPORT = """
import json
print("REPORT " + json.dumps({
    "new": result.version,
    "champion_before": champion_before,
    "comparison": comparison.reset_index().to_dict(orient="records"),
    "versions": versions_frame(client, MODEL_NAME)["version"].tolist(),
}))
"""


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _client(root: Path) -> MlflowClient:
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    return MlflowClient(uri, uri)


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A python3 kernel spec for this very interpreter, found before any user-level one (fresh venvs too)."""
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("RETAIL_TRACKING_URI", raising=False)  # the copy's own store, never a configured server


def _run_notebook(cwd: Path, parameters: str, notebook: Path = NOTEBOOK) -> nbformat.NotebookNode:
    """Execute the notebook with `parameters` injected after its parameters cell and the report cell appended."""
    nb = nbformat.read(notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "commit without outputs"
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(parameters))
    nb.cells.append(nbformat.v4.new_code_cell(REPORT))
    NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def _report(nb: nbformat.NotebookNode) -> dict:
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    line = next(x for x in text.splitlines() if x.startswith("REPORT "))
    return json.loads(line.removeprefix("REPORT "))


def _on_a_copy(built, copy_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str):
    """The shared workspace, a snapshot of its files, and a copy the kernel works on (found through the
    environment, which the kernel inherits): (original, snapshot, the copy's client, its champion, kernel cwd)."""
    original = built.ws.root
    before_tree = _tree(original)
    ws = copy_workspace(original, tmp_path / "ws")
    copy_client = _client(ws)
    champion = str(tracking.alias_version(copy_client, model, tracking.CHAMPION))
    monkeypatch.setenv("RETAIL_WORKSPACE", str(ws))
    run_dir = tmp_path / "cwd"
    run_dir.mkdir()
    return original, before_tree, copy_client, champion, run_dir


def test_notebook_retrains_and_compares_on_a_copy(
    built, kernel_env: None, copy_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, before_tree, copy_client, champion, run_dir = _on_a_copy(
        built, copy_workspace, tmp_path, monkeypatch, "churn"
    )
    versions_before = {str(v.version) for v in copy_client.search_model_versions("name='churn'")}

    # the fixture's champion was trained for a 60-day horizon on 8 cutoffs: retrain like it, so the table compares
    nb = _run_notebook(run_dir, "HORIZON_DAYS = 60\nN_CUTOFFS = 8")

    report = _report(nb)
    versions_after = {str(v.version) for v in copy_client.search_model_versions("name='churn'")}
    assert versions_after - versions_before == {report["new"]}, "exactly one new churn version, in the copy"
    assert str(report["champion_before"]) == champion
    rows = {r["model"]: r for r in report["comparison"]}
    assert list(rows) == ["champion", "challenger", "recency", "rfm_logistic"]
    assert rows["champion"]["version"] == champion and rows["challenger"]["version"] == report["new"]
    run = copy_client.get_run(str(copy_client.get_model_version("churn", report["new"]).run_id))
    for name, row in rows.items():
        assert 0.5 < row["auc"] <= 1 and 0 < row["pr_auc"] <= 1 and 0 <= row["brier"] < 0.25, name
    # the new version's figures are its evaluation fit's, as its run logged them on the held-out rows
    assert rows["challenger"]["auc"] == run.data.metrics["model_auc"]
    assert rows["recency"]["auc"] == run.data.metrics["recency_auc"]
    assert report["versions"][0] == report["new"], "versions are listed newest first"

    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2, "calibration and importance plots are displayed"
    assert _tree(original) == before_tree, "the shared workspace was not touched"
    assert not any(run_dir.iterdir()), "nothing written to the kernel's working directory"


def test_demand_notebook_retrains_compares_and_plots_on_a_copy(
    built, kernel_env: None, copy_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, before_tree, copy_client, champion, run_dir = _on_a_copy(
        built, copy_workspace, tmp_path, monkeypatch, "demand"
    )

    # the fixture's champion: 40 series, 2 origins, 28 days; retrain like it so the comparison uses the same days
    nb = _run_notebook(run_dir, "SERIES = 40\nORIGINS = 2", NOTEBOOKS / "demand.ipynb")

    report = _report(nb)
    assert str(report["champion_before"]) == champion
    rows = {r["model"]: r for r in report["comparison"]}
    assert list(rows)[:2] == ["champion", "challenger"] and "auto_ets" in rows and "mean_28" in rows
    run = copy_client.get_run(str(copy_client.get_model_version("demand", report["new"]).run_id))
    assert rows["challenger"]["wape"] == run.data.metrics["model_wape"]
    assert 0 <= run.data.metrics["model_coverage"] <= 1
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "forecasts against actuals are displayed"
    assert _tree(original) == before_tree, "the shared workspace was not touched"
    assert not any(run_dir.iterdir()), "nothing written to the kernel's working directory"


def test_sentiment_notebook_retrains_and_compares_on_a_copy(
    built, kernel_env: None, copy_workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original, before_tree, copy_client, champion, run_dir = _on_a_copy(
        built, copy_workspace, tmp_path, monkeypatch, "sentiment"
    )

    nb = _run_notebook(run_dir, "EPOCHS = 2\nMAX_LENGTH = 32", NOTEBOOKS / "sentiment.ipynb")

    report = _report(nb)
    assert str(report["champion_before"]) == champion
    rows = {r["model"]: r for r in report["comparison"]}
    assert list(rows) == ["champion", "challenger", "vader", "frozen_encoder"]
    assert rows["champion"]["version"] == champion and rows["challenger"]["version"] == report["new"]
    run = copy_client.get_run(str(copy_client.get_model_version("sentiment", report["new"]).run_id))
    # same seed, same reviews: the same held-out rows, none of which the champion trained on
    assert rows["challenger"]["accuracy"] == run.data.metrics["model_accuracy"]
    assert rows["vader"]["accuracy"] == run.data.metrics["vader_accuracy"]
    assert all(0 <= row["accuracy"] <= 1 and 0 <= row["negative_recall"] <= 1 for row in rows.values())
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1, "the confusion matrix is displayed"
    assert _tree(original) == before_tree, "the shared workspace was not touched"
    assert not any(run_dir.iterdir()), "nothing written to the kernel's working directory"
