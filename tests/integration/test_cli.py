"""The `retail` command line end to end: real Feast, MLflow and registry in temporary workspaces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from clirun import RETAIL, fails, ok
from mlflow import MlflowClient

from retail.settings import Settings
from retail.workspace import Workspace

pytestmark = pytest.mark.integration


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small(tmp_path: Path) -> Workspace:
    """A tiny simulated workspace (raw tables only), made through the CLI."""
    root = tmp_path / "small"
    out = ok("data", "simulate", "--workspace", root, "--customers", 50, "--days", 60, "--seed", 3)
    assert "transactions:" in out and "customers: 50 rows" in out
    return Workspace.at(root)


# --- the shared workspace, read only ---


def test_models_list_shows_the_champion(built) -> None:
    out = ok("models", "list", "churn", "--workspace", built.ws.root)
    assert out.splitlines()[0] == "churn"
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [(built.version, "champion")]


def test_models_list_without_a_name_lists_every_family(built) -> None:
    out = ok("models", "list", "--workspace", built.ws.root)
    assert {"churn", "recommender"} <= set(out.splitlines())


def test_an_unknown_model_name_is_refused_naming_the_families(built) -> None:
    for args in (("models", "list", "nope"), ("models", "promote", "nope"), ("models", "rollback", "nope")):
        line = fails(*args, "--workspace", built.ws.root)
        assert "unknown model 'nope'" in line and "churn, recommender" in line


@pytest.mark.parametrize("days_back", [None, 120], ids=["features-date", "as-of"])
def test_predict_churn_writes_every_known_customer(built, tmp_path: Path, days_back: int | None) -> None:
    as_of = pd.Timestamp(built.ws.read_meta()["features_as_of"])
    args: list[str | Path] = ["predict", "churn", "--workspace", built.ws.root]
    if days_back is not None:
        as_of -= pd.Timedelta(days=days_back)
        args += ["--as-of", f"{as_of:%Y-%m-%d}"]
    out_file = tmp_path / "scores" / "x.csv"
    out = ok(*args, "--out", out_file)
    scores = pd.read_csv(out_file, dtype={"customer_id": str})
    assert list(scores.columns) == ["customer_id", "churn_probability", "risk_band", "driver_1", "driver_2", "driver_3"]
    tx = pd.read_parquet(built.ws.raw_table("transactions"), columns=["customer_id", "ts"])
    known = set(tx.loc[tx["ts"] < as_of, "customer_id"].dropna())
    assert scores["customer_id"].is_unique and set(scores["customer_id"]) == known
    assert scores["churn_probability"].between(0, 1).all()  # NaN fails `between` too
    assert f"wrote {len(scores):,} scores" in out
    assert [p.name for p in out_file.parent.iterdir()] == ["x.csv"]  # no temporary file left behind


def test_predict_churn_rejects_an_unknown_suffix(built, tmp_path: Path) -> None:
    line = fails("predict", "churn", "--workspace", built.ws.root, "--out", tmp_path / "x.txt")
    assert "x.txt" in line and ".csv or .parquet" in line
    assert list(tmp_path.iterdir()) == []


def test_train_as_of_after_the_data_is_refused(built) -> None:
    data_end = pd.Timestamp(built.ws.read_meta()["data_end"])
    late = f"{data_end + pd.Timedelta(days=7):%Y-%m-%d}"
    line = fails("train", "churn", "--workspace", built.ws.root, "--as-of", late)
    assert late in line and "after the data ends" in line


def test_recommend_batch_writes_k_products_per_known_customer(built, tmp_path: Path) -> None:
    out_file = tmp_path / "recs.parquet"
    out = ok(
        "predict", "recommender", "--workspace", built.ws.root, "--out", out_file, "--k", 3, "--mode", "cross_sell"
    )
    recs = pd.read_parquet(out_file)
    assert list(recs.columns) == ["customer_id", "rank", "product_id", "score", "reason"]
    tx = pd.read_parquet(built.ws.raw_table("transactions"), columns=["customer_id", "ts", "quantity"])
    as_of = pd.Timestamp(built.ws.read_meta()["data_end"])
    known = set(tx.loc[(tx["ts"] < as_of) & (tx["quantity"] > 0), "customer_id"].dropna())
    assert set(recs["customer_id"]) == known
    assert recs.groupby("customer_id")["rank"].apply(list).map([1, 2, 3].__eq__).all()
    assert not recs.duplicated(["customer_id", "product_id"]).any() and recs["reason"].str.len().gt(0).all()
    lines = pd.read_parquet(built.ws.raw_table("transactions"))
    lines = lines[(lines["ts"] < as_of) & (lines["quantity"] > 0)]
    bought = set(zip(lines["customer_id"], lines["product_id"], strict=True))
    assert not set(zip(recs["customer_id"], recs["product_id"], strict=True)) & bought  # cross_sell: all new
    assert f"for {len(known):,} customers" in out


def test_recommend_batch_refuses_a_date_before_the_models_data(built, tmp_path: Path) -> None:
    early = f"{pd.Timestamp(built.ws.read_meta()['data_end']) - pd.Timedelta(days=40):%Y-%m-%d}"
    line = fails("predict", "recommender", "--workspace", built.ws.root, "--out", tmp_path / "r.csv", "--as-of", early)
    assert early in line and "train one with --as-of" in line
    line = fails("predict", "recommender", "--workspace", built.ws.root, "--out", tmp_path / "r.csv", "--mode", "odd")
    assert "--mode odd" in line
    assert list(tmp_path.iterdir()) == []


def test_models_list_shows_the_recommenders_figures(built) -> None:
    out = ok("models", "list", "recommender", "--workspace", built.ws.root)
    header, row = out.splitlines()[1].split(), out.splitlines()[2].split()
    assert header[:3] == ["version", "aliases", "recall@10"] and row[:2] == ["1", "champion"]
    assert float(row[2]) == pytest.approx(built.recommender_metrics["model_all_recall_at_10"], abs=1e-3)


# --- errors on other workspaces ---


def test_features_build_on_an_empty_workspace(tmp_path: Path) -> None:
    line = fails("features", "build", "--workspace", tmp_path)
    assert "no transactions" in line and "retail data" in line
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_errors_from_the_console_script_are_one_line(tmp_path: Path) -> None:
    """The installed `retail` script, not just the Typer app: stderr is the message, nothing else."""
    proc = subprocess.run(
        [str(RETAIL), "features", "build", "--workspace", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no transactions in {Workspace.at(tmp_path).raw_dir}")
    assert proc.stdout == ""


def test_import_with_a_missing_column_changes_nothing(small: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "order_id,customer_id,product_id,ts,unit_price\nO1,C1,P1,2024-01-01 10:00:00,1.5\n"
    )
    before = snapshot(small.raw_dir)
    line = fails("data", "import", "canonical", folder, "--workspace", small.root)
    assert "transactions.csv" in line and "quantity" in line
    assert snapshot(small.raw_dir) == before


def test_simulate_then_import_a_csv_folder_round_trip(small: Workspace, tmp_path: Path) -> None:
    """A slice of the simulated tables, exported to CSV and imported, lands exactly as it was."""
    tx = pd.read_parquet(small.raw_table("transactions")).head(20)
    products = pd.read_parquet(small.raw_table("products"))
    products = products[products["product_id"].isin(tx["product_id"])].reset_index(drop=True)
    folder = tmp_path / "export"
    folder.mkdir()
    tx.to_csv(folder / "transactions.csv", index=False)
    products.to_csv(folder / "products.csv", index=False)

    out = ok("data", "import", "canonical", folder, "--workspace", small.root)
    assert f"transactions: {len(tx)} rows" in out and f"products: {len(products)} rows" in out
    # the imported data set replaces the simulated one: no simulated reviews or inventory linger (stores and
    # customers are derived from the imported lines)
    names = sorted(p.name for p in small.raw_dir.iterdir())
    assert names == ["customers.parquet", "products.parquet", "stores.parquet", "transactions.parquet"]
    assert set(pd.read_parquet(small.raw_table("stores"))["store_id"]) == set(tx["store_id"])
    pd.testing.assert_frame_equal(pd.read_parquet(small.raw_table("transactions")), tx.reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_parquet(small.raw_table("products")), products)


# --- train and promote on a copy of the shared workspace ---


@pytest.fixture(scope="module")
def trained_copy(built, tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str]:
    """A copy of the shared workspace with a second churn version trained by the CLI."""
    root = tmp_path_factory.mktemp("copy") / "ws"
    shutil.copytree(built.ws.root, root)
    out = ok("train", "churn", "--workspace", root, "--cutoffs", 2, "--horizon-days", 60)
    return Workspace.at(root), out


def _client(ws: Workspace) -> MlflowClient:
    from training import tracking

    return tracking.connect(ws, Settings(workspace=ws.root))


def test_train_registers_a_challenger(trained_copy: tuple[Workspace, str], built) -> None:
    ws, out = trained_copy
    assert out.startswith("churn version 2 (@challenger) in ") and ": AUC " in out
    client = _client(ws)
    assert str(client.get_model_version_by_alias("churn", "challenger").version) == "2"
    assert str(client.get_model_version_by_alias("churn", "champion").version) == built.version
    listed = ok("models", "list", "churn", "--workspace", ws.root)
    assert [line.split()[:2] for line in listed.splitlines()[2:]] == [["2", "challenger"], ["1", "champion"]]


def test_promote_then_force(trained_copy: tuple[Workspace, str]) -> None:
    ws, _ = trained_copy
    client = _client(ws)
    out = ok("models", "promote", "churn", "--workspace", ws.root)
    if out.startswith("churn: promoted"):
        assert "version 2 is @champion - challenger beat champion" in out
        assert str(client.get_model_version_by_alias("churn", "champion").version) == "2"
        client.set_registered_model_alias("churn", "challenger", "1")  # something left to force
        forced = "1"
    else:
        assert out.startswith("churn: kept version 1 - challenger did not beat champion (champion auc ")
        assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
        forced = "2"

    out = ok("models", "promote", "churn", "--force", "--workspace", ws.root)
    assert out.startswith(f"churn: promoted: version {forced} is @champion - forced")
    assert str(client.get_model_version_by_alias("churn", "champion").version) == forced
    assert client.get_model_version("churn", forced).tags["promotion"] == "forced"
    assert "challenger" not in client.get_registered_model("churn").aliases
    listed = ok("models", "list", "churn", "--workspace", ws.root)
    row = next(line.split() for line in listed.splitlines()[2:] if line.split()[0] == forced)
    assert row[1] == "champion" and row[-1] == "forced"

    # rollback: back to the champion the forced one replaced, recorded on both versions
    previous = "2" if forced == "1" else "1"
    out = ok("models", "rollback", "churn", "--workspace", ws.root)
    assert out.startswith(f"churn: version {previous} is @champion again - rolled back from v{forced}")
    assert str(client.get_model_version_by_alias("churn", "champion").version) == previous
    assert client.get_model_version("churn", forced).tags["rolled_back"].startswith(f"replaced by v{previous}")
    assert client.get_model_version("churn", previous).tags["promotion"].startswith(f"rollback from v{forced}")


def test_compare_prints_champion_challenger_and_baselines(trained_copy: tuple[Workspace, str]) -> None:
    ws, _ = trained_copy
    out = ok("models", "compare", "churn", "--workspace", ws.root, "--champion", "1", "--challenger", "2")
    lines = out.splitlines()
    assert lines[0].split() == ["version", "auc", "pr_auc", "brier"]
    assert [line.split()[0] for line in lines[2:]] == ["champion", "challenger", "recency", "rfm_logistic"]
    assert lines[2].split()[1] == "1" and lines[3].split()[1] == "2"


def test_predict_sentiment_carries_the_input_columns(built, tmp_path: Path) -> None:
    texts = tmp_path / "feedback.csv"
    pd.DataFrame({"ticket": ["T1", "T2", "T3"], "text": ["Love it!", "Broke after a day.", ""]}).to_csv(
        texts, index=False
    )
    out = tmp_path / "scored.parquet"
    assert "3 scored texts" in ok("predict", "sentiment", "--in", texts, "--out", out, "--workspace", built.ws.root)
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["ticket", "text", "label", "score"]
    assert scored["ticket"].tolist() == ["T1", "T2", "T3"] and scored["score"].between(0, 1).all()


def test_predict_sentiment_needs_a_text_column(built, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"comment": ["fine"]}).to_csv(bad, index=False)
    assert "no 'text' column" in fails(
        "predict", "sentiment", "--in", bad, "--out", tmp_path / "o.csv", "-w", built.ws.root
    )


def test_train_sentiment_refuses_a_bad_reviews_file_naming_row_and_column(built, tmp_path: Path) -> None:
    bad = tmp_path / "mine.csv"
    pd.DataFrame({"text": ["good", "bad", "odd"], "rating": [5, 1, 9]}).to_csv(bad, index=False)
    message = fails("train", "sentiment", "--reviews", bad, "--workspace", built.ws.root)
    assert "mine.csv row 3, column rating" in message and "got '9'" in message
