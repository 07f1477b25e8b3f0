"""`retail train recommender`: fit -> evaluate against baselines on a held-out period -> MLflow -> registry.

The figures come from a fit on the data before `as_of - H`, judged on the H days up to `as_of`; the registered
model is the same procedure refitted on everything before `as_of`, so it knows the latest baskets and products.
Nothing from `as_of` on is read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import mlflow
import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training import compare, tracking
from training.recommend import MODEL_NAME
from training.recommend.candidates import CandidateSource, Fallback, ImplicitALS, ImplicitBPR, Popularity, Repeat
from training.recommend.evaluate import evaluate_fitted
from training.recommend.holdout import evaluate_recommender, truth_frame
from training.recommend.products import build_product_table
from training.recommend.pyfunc import SIGNATURE, RecommenderModel, input_example
from training.recommend.recommender import Recommender
from training.recommend.rerank import RerankConfig, fit_reranker
from training.recommend.side_features import SideFeatures, feast_customer_lookup

log = logging.getLogger(__name__)
PIP_REQUIREMENTS = [
    "implicit==0.7.3",
    "lightgbm==4.7.0",
    "numpy==2.4.6",
    "pandas==2.3.3",
    "scipy==1.17.1",
    "threadpoolctl==3.8.0",
]
TX_COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
K = 10


def fit_recommender(
    ws: Workspace,
    tx: pd.DataFrame,
    as_of: pd.Timestamp,
    horizon_days: int,
    config: RerankConfig,
    progress: Callable[[str], None],
) -> Recommender:
    """The whole two-stage model on the transactions before `as_of`, with the workspace's product facts."""
    tx = tx[tx["ts"] < as_of]
    products = ws.read_raw("products")
    reviews = ws.read_raw("reviews", ["product_id", "ts", "rating"])
    if reviews is not None:
        reviews = reviews[reviews["ts"] < as_of]
    side = SideFeatures(products, reviews, feast_customer_lookup(ws))
    inner_cutoff = as_of - pd.Timedelta(days=horizon_days)
    reranker = fit_reranker(tx, inner_cutoff, horizon_days, config, as_of, progress, side)
    table = build_product_table(reranker.interactions.product_ids, tx, products, reviews)
    catalogue = products["product_id"].astype(str).tolist() if products is not None else []
    return Recommender.build(reranker, table, catalogue)


def _baselines(recommender: Recommender, test: pd.DataFrame) -> dict[str, float]:
    x = recommender.reranker.interactions
    sources: dict[str, CandidateSource] = {
        "popularity": Popularity(),
        "repeat_then_popular": Fallback(Repeat(), Popularity()),
        "als": ImplicitALS(),
        "bpr": ImplicitBPR(),  # ALS and BPR both feed the ranker, which weighs them; alone, each is logged here
    }
    results: dict[str, float] = {}
    for name, source in sources.items():
        source.fit(x)
        for part, new_only in (("all", False), ("new", True)):
            scores = evaluate_fitted(source, x, test, K, new_only)
            results[f"{name}_{part}_recall_at_{K}"] = scores[f"recall_at_{K}"]
            results[f"{name}_{part}_ndcg_at_{K}"] = scores[f"ndcg_at_{K}"]
    return results


def train_recommender(
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    horizon_days: int = 30,
    config: RerankConfig | None = None,
    progress: Callable[[str], None] = log.info,
) -> tracking.TrainResult:
    """Evaluate, refit and register a recommender using only transactions from before `as_of`."""
    started = time.perf_counter()
    config = config or RerankConfig(seed=settings.seed)
    if not (ws.feature_repo / "feature_store.yaml").exists():
        raise FileNotFoundError(f"{ws.root} has no feature repository: run `retail features build` first")
    tx = ws.read_transactions(TX_COLUMNS)
    data_end = tx["ts"].max().floor("D") + pd.Timedelta(days=1)
    as_of = pd.Timestamp(as_of) if as_of is not None else data_end
    if as_of > data_end:
        raise ValueError(f"--as-of {as_of:%Y-%m-%d} is after the data ends ({data_end:%Y-%m-%d})")
    tx = tx[tx["ts"] < as_of]
    eval_cutoff = as_of - pd.Timedelta(days=horizon_days)
    if tx.empty or tx["ts"].min() >= eval_cutoff - pd.Timedelta(days=horizon_days):
        raise ValueError(f"less than {2 * horizon_days} days of transactions before {as_of:%Y-%m-%d}")
    progress(f"evaluation fit on data before {eval_cutoff:%Y-%m-%d}")
    held_out = fit_recommender(ws, tx, eval_cutoff, horizon_days, config, progress)
    truth = truth_frame(held_out.reranker.interactions, tx[tx["ts"] >= eval_cutoff])
    results = {f"model_{k}": v for k, v in evaluate_recommender(held_out, truth, K).items()}
    results |= _baselines(held_out, tx[tx["ts"] >= eval_cutoff])
    progress(f"final fit on data before {as_of:%Y-%m-%d}")
    final = fit_recommender(ws, tx, as_of, horizon_days, config, progress)
    seconds = time.perf_counter() - started
    results["train_seconds"] = seconds

    client = tracking.connect(ws, settings)
    run_name = f"recommender-{as_of:%Y%m%d}"
    with mlflow.start_run(experiment_id=tracking.experiment(ws, MODEL_NAME), run_name=run_name) as run:
        mlflow.log_params(
            {
                "as_of": f"{as_of:%Y-%m-%d}",
                "horizon_days": horizon_days,
                "eval_cutoff": f"{eval_cutoff:%Y-%m-%d}",
                "customers": final.reranker.interactions.n_customers,
                "products": final.reranker.interactions.n_products,
                **{f"rerank_{k}": v for k, v in vars(config).items() if k != "proposals"},
                **{f"proposals_{k}": v for k, v in config.proposals.items()},
            }
        )
        mlflow.log_metrics(results)
        compare.log_evaluation_set(truth)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=RecommenderModel(final),
            signature=SIGNATURE,
            input_example=input_example(final),
            pip_requirements=PIP_REQUIREMENTS,
            registered_model_name=MODEL_NAME,
            metadata={"as_of": f"{as_of:%Y-%m-%d}", "k_evaluated": K},
        )
        version = str(info.registered_model_version)
    tags = {
        "eval_cutoff": f"{eval_cutoff:%Y-%m-%d}",
        "as_of": f"{as_of:%Y-%m-%d}",
        "recall_at_10": f"{results['model_all_recall_at_10']:.4f}",
    }
    alias = tracking.tag_and_assign(client, MODEL_NAME, version, tags)
    log.info(
        "recommender v%s: recall@10 %.3f all, %.3f never bought (repeat-then-popular %.3f, ALS %.3f) in %.0fs",
        version,
        results["model_all_recall_at_10"],
        results["model_new_recall_at_10"],
        results["repeat_then_popular_all_recall_at_10"],
        results["als_all_recall_at_10"],
        seconds,
    )
    return tracking.TrainResult(run.info.run_id, version, alias, results, seconds)
