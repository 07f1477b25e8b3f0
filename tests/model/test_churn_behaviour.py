"""The churn model on the simulated world, where each customer's true churn date is known.

One small pipeline (simulate 1,500 customers -> features -> point-in-time training set -> default LightGBM) scored
at a held-out cutoff the training labels never reach, like `retail train churn` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.simulate import ground_truth

pytestmark = pytest.mark.model

N_CUSTOMERS, DAYS, SEED = 1500, 540, 7
HORIZON_DAYS, N_CUTOFFS = 60, 8
# Measured: 0.89 / 0.85 AUC and 0.046 ECE. A model blind to recency and recent activity scores 0.78 / 0.75 AUC,
# and these scores drifted by 0.05 have an ECE of 0.07: both fail.
GONE_VS_LOYAL_AUC = 0.85
LEAVING_VS_LOYAL_AUC = 0.80
ECE_BOUND = 0.06
SILENCE = (  # phrases that say a customer has gone quiet
    "no order for",
    "days since the last order",
    "days past their usual",
    "no orders in the last",
    "spent £0 in the last",
    "bought nothing in the last",
    "has not shopped in the last",
)


@dataclass
class Scored:
    frame: pd.DataFrame  # held-out customers: churned label, probability, drivers, true churn_date
    cutoff: pd.Timestamp
    horizon: pd.Timedelta


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Scored:
    from features.build import build_features
    from features.catalog import CHURN_SERVICE
    from features.rawio import write_tables
    from features.simulate import simulate
    from retail.settings import Settings
    from retail.workspace import Workspace
    from training.churn import dataset
    from training.churn.model import MODEL_INPUT, fit_lgbm, prepare
    from training.churn.pyfunc import ChurnModel
    from training.sentiment.batch import review_scores
    from training.splits import plan_cutoffs

    root = tmp_path_factory.mktemp("churn-world")
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=N_CUSTOMERS, days=DAYS, seed=SEED))
    build_features(ws, Settings(workspace=root, tracking_uri=None), review_scores=review_scores)
    tx = ws.read_transactions()
    as_of = tx["ts"].max().floor("D") + pd.Timedelta(days=1)
    plan = plan_cutoffs(as_of, HORIZON_DAYS, N_CUTOFFS, 7, data_start=tx["ts"].min())
    train = dataset.build(ws, tx, plan.train, plan.horizon)
    held_out = dataset.build(ws, tx, [plan.evaluation], plan.horizon)
    model = fit_lgbm(prepare(train), train["churned"].to_numpy())
    out = ChurnModel(model, CHURN_SERVICE).predict(None, held_out[MODEL_INPUT].astype("float64"))
    frame = held_out[["customer_id", "churned"]].assign(
        p=out["churn_probability"].to_numpy(), drivers=out["drivers"].to_numpy()
    )
    truth = ground_truth(n_customers=N_CUSTOMERS, days=DAYS, seed=SEED)["customers"][["customer_id", "churn_date"]]
    return Scored(frame.merge(truth, on="customer_id", how="left"), plan.evaluation, plan.horizon)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Share-weighted gap between mean prediction and observed rate over equal-width probability bins."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(y[index == b].mean() - p[index == b].mean()) * np.mean(index == b) for b in np.unique(index)))


def _auc_against_loyal(s: Scored, positive: pd.Series) -> float:
    loyal = s.frame["churn_date"].isna()  # still active when the simulated window ends
    rows = positive | loyal
    assert positive.sum() >= 50 and loyal.sum() >= 200
    return float(roc_auc_score(positive[rows], s.frame.loc[rows, "p"]))


def test_customers_gone_before_the_cutoff_rank_above_loyal_ones(scored: Scored) -> None:
    gone = scored.frame["churn_date"] < scored.cutoff
    auc = _auc_against_loyal(scored, gone)
    assert auc >= GONE_VS_LOYAL_AUC, f"AUC {auc:.3f}, gone before the cutoff vs loyal"


def test_customers_leaving_by_the_horizon_rank_above_loyal_ones(scored: Scored) -> None:
    """Gone already or leaving inside the horizon (the latter still look active): together above the loyal."""
    leaving = scored.frame["churn_date"] < scored.cutoff + scored.horizon
    auc = _auc_against_loyal(scored, leaving)
    assert auc >= LEAVING_VS_LOYAL_AUC, f"AUC {auc:.3f}, leaving by the horizon vs loyal"


def test_held_out_probabilities_are_calibrated(scored: Scored) -> None:
    y, p = scored.frame["churned"].to_numpy(dtype=float), scored.frame["p"].to_numpy()
    ece = expected_calibration_error(y, p)
    assert ece <= ECE_BOUND, f"expected calibration error {ece:.3f} over 10 bins"
    # the bound bites: the same scores drifted by 0.05 fail it
    assert expected_calibration_error(y, np.clip(p + 0.05, 0, 1)) > ECE_BOUND


def test_drivers_name_the_silence_of_customers_who_have_left(scored: Scored) -> None:
    """For customers gone before the cutoff the first driver says how long they have been quiet."""
    frame = scored.frame
    first_is_silence = frame["drivers"].map(lambda d: bool(d) and any(s in d[0] for s in SILENCE))
    gone, loyal = frame["churn_date"] < scored.cutoff, frame["churn_date"].isna()
    assert first_is_silence[gone].mean() >= 0.75
    assert first_is_silence[loyal].mean() <= 0.5 * first_is_silence[gone].mean()
