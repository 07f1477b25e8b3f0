"""`retail campaign build` on the shared workspace: one row per customer, bands, policy, offers, dates, files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clirun import RETAIL, fails, ok, retail

from campaign import build as campaign_build
from retail import db
from retail.workspace import Workspace
from serving.commerce.discounts import CampaignPolicy, expected_value
from training.churn.adapter import risk_band

pytestmark = pytest.mark.integration


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def campaign(built, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The campaign of the shared workspace, built in this process with one worker."""
    out = tmp_path_factory.mktemp("campaign") / "campaign.parquet"
    said = ok("campaign", "build", "--workspace", built.ws.root, "--out", out, "--workers", 1)
    assert f"to {out}" in said and "a minute" in said
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def as_of(built) -> pd.Timestamp:
    return pd.Timestamp(built.ws.read_meta()["features_as_of"]).floor("D")


@pytest.fixture(scope="module")
def tx(built) -> pd.DataFrame:
    return built.ws.read_transactions(["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"])


def test_every_customer_known_before_as_of_is_there_once(campaign: pd.DataFrame, tx: pd.DataFrame, as_of) -> None:
    known = set(tx.loc[(tx["ts"] < as_of) & tx["customer_id"].notna(), "customer_id"])
    assert campaign["customer_id"].is_unique
    assert set(campaign["customer_id"]) == known
    assert list(campaign.columns[:3]) == ["customer_id", "churn_probability", "risk_band"]


def test_bands_follow_the_probabilities(campaign: pd.DataFrame) -> None:
    p = campaign["churn_probability"]
    assert p.between(0, 1).all() and p.nunique() > 10
    assert (campaign["risk_band"] == [risk_band(float(x)) for x in p]).all()
    assert set(campaign["risk_band"]) == {"low", "medium", "high"}  # the workspace has all three


def test_values_and_tiers_come_from_the_history_before_as_of(campaign: pd.DataFrame, tx, as_of) -> None:
    before = tx[(tx["ts"] < as_of) & tx["customer_id"].notna()]
    amount = before["quantity"] * before["unit_price"]
    lifetime = amount.groupby(before["customer_id"]).sum()
    recent = amount[before["ts"] >= as_of - pd.Timedelta(days=365)].groupby(before["customer_id"]).sum()
    rows = campaign.set_index("customer_id")
    assert np.allclose(rows["lifetime_value"], lifetime.reindex(rows.index), atol=0.01)
    assert np.allclose(rows["spend_recent"], recent.reindex(rows.index).fillna(0.0), atol=0.01)
    assert np.allclose(rows["value_at_risk"], rows["spend_recent"] * 90 / 365, atol=0.02)
    expected = np.select([recent >= 1500, recent >= 500], ["gold", "silver"], "bronze")  # the loyalty defaults
    tiers = pd.Series(expected, index=recent.index).reindex(rows.index).fillna("bronze")
    assert (rows["loyalty_tier"] == tiers).all()
    assert rows["loyalty_tier"].nunique() > 1


def test_discounts_follow_the_default_policy(campaign: pd.DataFrame) -> None:
    c, policy = campaign, CampaignPolicy()
    offered = c["offer_price"].notna()
    assert offered.mean() > 0.95
    assert (c.loc[c["risk_band"] == "low", "discount_pct"] == 0).all()
    big = (c["risk_band"] == "high") & (c["value_at_risk"] >= 100) & offered
    assert big.any()
    pays = expected_value(
        policy,
        c["churn_probability"].to_numpy(),
        c["value_at_risk"].to_numpy(),
        c["offer_price"].to_numpy(),
        np.full(len(c), 20.0),
    )
    assert (c.loc[big & (pays > 0), "discount_pct"] == 20).all() and (big & (pays > 0)).any()
    assert (c.loc[big & (pays <= 0), "discount_pct"] == 0).all()
    recomputed = expected_value(
        policy,
        c["churn_probability"].to_numpy(),
        c["value_at_risk"].to_numpy(),
        c["offer_price"].to_numpy(),
        c["discount_pct"].to_numpy(),
    )
    assert np.allclose(c["expected_value"], recomputed, atol=0.01)
    given = c["discount_pct"] > 0
    assert given.any() and (c.loc[given, "expected_value"] > 0).all()  # every discount pays for itself
    assert (c.loc[~given, "expected_value"] == 0).all()


def test_a_policy_file_changes_the_discounts(built, tmp_path: Path, campaign: pd.DataFrame) -> None:
    rules = {
        "rules": [{"band": "low", "discount_pct": 5}],
        "require_positive_value": False,
        "up_sell_bands": [],
    }
    (tmp_path / "policy.json").write_text(json.dumps(rules))
    out = tmp_path / "c.parquet"
    ok(
        "campaign",
        "build",
        "--workspace",
        built.ws.root,
        "--out",
        out,
        "--workers",
        1,
        "--policy",
        tmp_path / "policy.json",
    )
    c = pd.read_parquet(out)
    low = c["risk_band"] == "low"
    assert (c.loc[low & c["offer_price"].notna(), "discount_pct"] == 5).all()
    assert (c.loc[~low, "discount_pct"] == 0).all()
    assert set(c["offer_mode"].dropna()) == {"cross_sell"}  # no band is offered an upgrade
    (tmp_path / "bad.json").write_text(json.dumps({"rules": [{"band": "huge", "discount_pct": 5}], "typo": 1}))
    line = fails("campaign", "build", "--workspace", built.ws.root, "--out", out, "--policy", tmp_path / "bad.json")
    assert "bad.json" in line and "band" in line


def test_offers_are_in_stock_online_and_new_for_cross_sell(built, campaign: pd.DataFrame, tx, as_of) -> None:
    from serving.commerce.stock import in_stock

    stocked, online = in_stock(db.engine(built.ws, built.settings))
    assert online
    sellable = set().union(*(stocked.get(s, set()) for s in online))
    offered = campaign.dropna(subset=["offer_product_id"])
    assert offered["offer_product_id"].isin(sellable).all()
    assert offered["offer_product_id"].nunique() > 5
    assert set(offered["offer_mode"]) == {"cross_sell", "up_sell"}
    bought = tx[(tx["ts"] < as_of) & (tx["quantity"] > 0)].groupby("customer_id")["product_id"].agg(set)
    cross = offered[offered["offer_mode"] == "cross_sell"]
    assert not any(
        p in bought.get(c, set()) for c, p in zip(cross["customer_id"], cross["offer_product_id"], strict=True)
    )
    ups = offered[offered["offer_mode"] == "up_sell"]
    assert (ups["risk_band"] == "low").all() and ups["offer_reason"].str.startswith("upgrade from ").all()


def test_offers_are_what_the_recommender_answers(built, campaign: pd.DataFrame) -> None:
    """The batched path against `Recommender.recommend`, customer by customer."""
    from serving.commerce.stock import Stock
    from training.recommend.batch import load_recommender

    rec, version = load_recommender(built.ws, built.settings)
    available = Stock(built.ws, database_url=built.settings.database_url).available(None, rec.product_ids, version)
    sample = campaign.dropna(subset=["offer_mode"]).sample(60, random_state=1)
    for row in sample.itertuples():
        answer = rec.recommend(row.customer_id, [], row.offer_mode, 1, available)
        top = answer.items[0]
        assert (top.product_id, top.reason) == (row.offer_product_id, row.offer_reason), row.customer_id
        assert top.score == pytest.approx(row.offer_score, abs=1e-5)


def test_a_guarded_mode_takes_the_recommenders_own_path(built) -> None:
    """A mode whose policy is not the model alone blends each pool with the baseline's list: same answers."""
    import dataclasses

    from training.recommend.baselines import fit_baselines
    from training.recommend.batch import load_recommender, rank_customers
    from training.recommend.guard import ModePolicy

    rec, _ = load_recommender(built.ws, built.settings)
    base = rec.reranker.policy.get("cross_sell") or ModePolicy("model", "bpr", 1.0, 0.0, 0.0, 0.0, 0, 0)
    rec.reranker.policy = {**rec.reranker.policy, "cross_sell": dataclasses.replace(base, kind="blend", weight=0.5)}
    rec.reranker.baselines = fit_baselines(rec.reranker.policy, rec.reranker.interactions)
    customers = list(rec.reranker.interactions.customer_ids[:150])
    picks = rank_customers(rec, [rec.customer_index(c) for c in customers], "cross_sell", 1, None, threads=1)
    for j in range(0, 150, 7):
        top = rec.recommend(customers[j], [], "cross_sell", 1).items[0]
        assert (top.product_id, top.reason) == (rec.product_ids[picks.items[j, 0]], picks.reasons[j][0])


def test_churn_features_are_feasts_point_in_time_join(built, campaign: pd.DataFrame, as_of) -> None:
    from campaign.churn import features_as_of
    from training.churn.dataset import features_at

    ids = campaign["customer_id"].to_numpy()[:300]
    for when in (as_of, as_of - pd.Timedelta(days=45)):
        fast = features_as_of(built.ws, ids, when)
        feast = features_at(built.ws, pd.DataFrame({"customer_id": ids, "cutoff": when}))
        pd.testing.assert_frame_equal(fast.reset_index(drop=True), feast.reset_index(drop=True), check_dtype=False)


def test_csv_with_workers_matches_parquet(built, campaign: pd.DataFrame, tmp_path: Path) -> None:
    """A fresh process (forked offer workers) writing CSV gives the same rows as the in-process parquet file."""
    out = tmp_path / "campaign.csv"
    done = subprocess.run(
        [str(RETAIL), "campaign", "build", "--workspace", str(built.ws.root), "--out", str(out), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "2 worker(s)" in done.stderr
    # a driver cell is text: a customer with fewer than three drivers has empty ones, read back as "" (not NaN)
    drivers = {f"driver_{k}": str for k in (1, 2, 3)}
    csv = pd.read_csv(out, dtype={"customer_id": str, "offer_product_id": str}, converters=drivers)
    pd.testing.assert_frame_equal(csv, campaign, check_dtype=False, atol=1e-6)


def test_later_transactions_do_not_change_a_campaign_as_of(
    built, copy_workspace, tmp_path: Path, campaign, as_of
) -> None:
    ws = Workspace.at(copy_workspace(built.ws.root, tmp_path / "ws"))
    raw = pd.read_parquet(ws.raw_table("transactions"))
    someone = str(campaign["customer_id"].iloc[0])
    later = raw.head(2).copy()
    later["order_id"] = ["LATE1", "LATE2"]
    later["customer_id"] = [someone, "C-NEW-AFTER-AS-OF"]
    later["ts"] = as_of + pd.Timedelta(hours=5)
    later["quantity"] = 50
    pd.concat([raw, later], ignore_index=True).to_parquet(ws.raw_table("transactions"), index=False)
    out = tmp_path / "c.parquet"
    ok("campaign", "build", "--workspace", ws.root, "--out", out, "--workers", 1, "--as-of", f"{as_of:%Y-%m-%d}")
    pd.testing.assert_frame_equal(pd.read_parquet(out), campaign)


def test_dates_are_checked(built, tmp_path: Path, as_of) -> None:
    out = tmp_path / "c.parquet"
    early = f"{as_of - pd.Timedelta(days=40):%Y-%m-%d}"
    line = fails("campaign", "build", "--workspace", built.ws.root, "--out", out, "--as-of", early)
    assert "recommender" in line and "--as-of" in line
    late = f"{pd.Timestamp(built.ws.read_meta()['data_end']) + pd.Timedelta(days=3):%Y-%m-%d}"
    assert "after the data ends" in fails(
        "campaign", "build", "--workspace", built.ws.root, "--out", out, "--as-of", late
    )
    result = retail("campaign", "build", "--workspace", built.ws.root, "--out", out, "--as-of", "30/06/2026")
    assert result.exit_code == 2 and "--as-of" in result.output
    assert not out.exists()


def test_without_a_churn_champion_the_error_says_what_to_run(built, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(built.ws.root / "data", bare / "data")  # data and features, no models
    out = tmp_path / "c.parquet"
    out.write_bytes(b"the previous campaign")
    line = fails("campaign", "build", "--workspace", bare, "--out", out)
    assert "churn" in line and "retail train churn" in line and "retail models promote churn" in line
    assert out.read_bytes() == b"the previous campaign" and not leftovers(tmp_path)


def test_a_bad_out_fails_before_any_work(built, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert "cannot write" in fails(
        "campaign", "build", "--workspace", built.ws.root, "--out", tmp_path / "afile" / "c.csv"
    )
    assert ".csv or .parquet" in fails("campaign", "build", "--workspace", built.ws.root, "--out", tmp_path / "c.txt")
    (tmp_path / "dir.csv").mkdir()
    assert "folder" in fails("campaign", "build", "--workspace", built.ws.root, "--out", tmp_path / "dir.csv")


@pytest.mark.parametrize("stage", ["policy", "write"])
def test_a_failure_leaves_no_partial_file(built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    out = tmp_path / "c.parquet"
    out.write_bytes(b"the previous campaign")

    def broken(*args: object, **kwargs: object) -> None:
        if stage == "write":
            Path(str(args[1])).write_bytes(b"half a file")  # to_parquet(self, path): some bytes, then the failure
        raise ValueError(f"failed in {stage}")

    if stage == "policy":
        monkeypatch.setattr(campaign_build, "decide", broken)
    else:
        monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    line = fails("campaign", "build", "--workspace", built.ws.root, "--out", out, "--workers", 1)
    assert f"failed in {stage}" in line
    assert out.read_bytes() == b"the previous campaign" and not leftovers(tmp_path)
