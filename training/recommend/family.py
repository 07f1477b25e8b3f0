"""The recommender family: implicit and co-purchase candidates reordered by LightGBM LambdaRank rankers.

The evaluation fit learns from the transactions before `T - H` and is judged on the H days up to T, against
popularity, repeat-then-popular, ALS alone and BPR alone; the registered model is refitted on everything before
T, so it knows the latest baskets and products.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from mlflow import MlflowClient

from features.catalog import RECOMMENDER_SERVICE
from retail.workspace import Workspace
from training import inputs
from training.family import Context, Dataset, Evaluation, Family, Options, Packaged, Split
from training.recommend import compare
from training.recommend.adapter import RecommenderAdapter
from training.recommend.baselines import baseline_sources
from training.recommend.batch import recommend_customers
from training.recommend.candidates import CandidateSource
from training.recommend.evaluate import evaluate_recommender, truth_frame
from training.recommend.guard import ModePolicy, policy_metrics
from training.recommend.metrics import evaluate_fitted
from training.recommend.model import MODES, Recommender
from training.recommend.options import HORIZON_DAYS, K, RecommenderOptions, RerankConfig
from training.recommend.products import build_product_table
from training.recommend.pyfunc import SIGNATURE, RecommenderModel, input_example, recommender_of
from training.recommend.rerank import fit_reranker
from training.recommend.side_features import ProductLookup, SideFeatures, feast_customer_lookup

log = logging.getLogger(__name__)
BASELINES = tuple(baseline_sources())  # popularity, repeat_then_popular, als, bpr: the guard's list
PARTS = {"all": "all products", "new": "never-bought products (cross_sell)"}


def fit_recommender(
    ctx: Context,
    tx: pd.DataFrame,
    split: Split,
    config: RerankConfig,
    product_names: Sequence[str] = (),
    product_lookup: ProductLookup | None = None,
    policy: Mapping[str, ModePolicy] | None = None,
) -> Recommender:
    """The whole two-stage model on the transactions before `split.train_end`, with the workspace's products.

    `product_names` / `product_lookup` add extra product columns read as of each cutoff (see `SideFeatures`); the
    family passes none (`benchmarks/sentiment_recommender.py` measures product sentiment this way). `policy` (the
    evaluation fit's per-mode decision) is kept instead of judging anew, so the refit serves what was evaluated.
    """
    as_of = split.train_end
    tx = tx[tx["ts"] < as_of]
    products = ctx.ws.read_raw("products")
    reviews = ctx.ws.read_raw("reviews", ["product_id", "ts", "rating"])
    if reviews is not None:
        reviews = reviews[reviews["ts"] < as_of]
    side = SideFeatures(
        products,
        reviews,
        feast_customer_lookup(ctx.ws),
        product_lookup=product_lookup,
        product_names=tuple(product_names),
    )
    inner_cutoff = as_of - split.horizon
    reranker = fit_reranker(tx, inner_cutoff, split.horizon.days, config, as_of, ctx.progress, side, policy)
    table = build_product_table(reranker.interactions.product_ids, tx, products, reviews)
    catalogue = products["product_id"].astype(str).tolist() if products is not None else []
    return Recommender.build(reranker, table, catalogue)


class RecommenderFamily(Family[RecommenderAdapter]):
    name = "recommender"
    feature_service = RECOMMENDER_SERVICE
    primary_metric = f"all_recall_at_{K}"
    default_horizon_days = HORIZON_DAYS
    requirements = ("implicit", "lightgbm", "numpy", "pandas", "scipy", "threadpoolctl")
    list_columns = {
        "recall@10": "model_all_recall_at_10",
        "NDCG@10": "model_all_ndcg_at_10",
        "new rec.": "model_new_recall_at_10",
        "repeat": "repeat_then_popular_all_recall_at_10",
        "ALS": "als_all_recall_at_10",
    }
    guards = tuple(
        (f"model_{part}_recall_at_{K}", f"{b}_{part}_recall_at_{K}", f"recall@{K} on {what} below {b}")
        for part, what in PARTS.items()
        for b in BASELINES
    )
    options_type = RecommenderOptions
    quick = {
        "horizon_days": HORIZON_DAYS,
        "options": RecommenderOptions(
            config=RerankConfig(n_estimators=60, learning_rate=0.1, earlier_cutoffs_days=(30,), cart_sessions=300)
        ),
    }
    tiny = {
        "horizon_days": 28,
        "options": RecommenderOptions(
            config=RerankConfig(
                als_factors=8,
                als_iterations=3,
                bpr_factors=8,
                bpr_iterations=10,
                proposals=dict.fromkeys(("als", "bpr", "co_order", "co_customer", "repeat", "popular"), 10),
                earlier_cutoffs_days=(),
                later_cutoffs_days=(),
                n_estimators=10,
                num_leaves=7,
                min_child_samples=5,
                cart_sessions=50,
                num_threads=1,
            )
        ),
    }

    def check_inputs(self, ctx: Context, options: Options) -> None:
        inputs.require_customer_ids(ctx.tx, "training the recommender (what each customer buys)")

    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        train = ctx.tx[ctx.tx["ts"] < split.train_end]
        test = None
        if split.test_end is not None:
            test = ctx.tx[(ctx.tx["ts"] >= split.train_end) & (ctx.tx["ts"] < split.test_end)]
        return Dataset(split, train, test, {"train_lines": len(train)})

    def fit(self, ctx: Context, data: Dataset, options: Options) -> Recommender:
        assert isinstance(options, RecommenderOptions)
        return fit_recommender(ctx, data.train, data.split, options.config)

    def refit(self, ctx: Context, data: Dataset, options: Options, evaluated: Any) -> Recommender:
        """The registered model on everything, serving each mode as the evaluated fit's inner validation decided
        (model, blend or baseline): the evaluation's `model_*` figures are those of this combination."""
        assert isinstance(options, RecommenderOptions) and isinstance(evaluated, Recommender)
        ctx.progress("recommender: the refit keeps the evaluation fit's decision per mode")
        return fit_recommender(ctx, data.train, data.split, options.config, policy=evaluated.policy)

    def baselines(self, ctx: Context, data: Dataset) -> dict[str, CandidateSource]:
        """The guard's own baselines (one list), unfitted: fitted on the model's interactions when evaluated."""
        return baseline_sources()

    def evaluate(self, ctx: Context, model: Recommender, baselines: Any, data: Dataset) -> Evaluation:
        x = model.reranker.interactions
        truth = truth_frame(x, data.test)
        results = {f"model_{k}": v for k, v in evaluate_recommender(model, truth, K).items()}
        results |= policy_metrics(model.policy)  # the inner validation behind what the model figures score
        for name, source in baselines.items():
            source.fit(x)
            for part in PARTS:
                scores = evaluate_fitted(source, x, data.test, K, new_only=part == "new")
                results[f"{name}_{part}_recall_at_{K}"] = scores[f"recall_at_{K}"]
                results[f"{name}_{part}_ndcg_at_{K}"] = scores[f"ndcg_at_{K}"]
        return Evaluation(results, truth)

    def package(self, ctx: Context, model: Recommender, data: Dataset) -> Packaged:
        x = model.reranker.interactions
        return Packaged(
            RecommenderModel(model),
            SIGNATURE,
            input_example(model),
            metrics={"customers": float(x.n_customers), "products": float(x.n_products)},
            params=model.policy_params(),  # per mode: the model, a blend or the baseline, from inner validation
            metadata={"k_evaluated": K},
        )

    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        return compare.table(client, self.name, champion, challenger, K, BASELINES)

    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """customer_id, rank, product_id, score, reason for every customer who bought before as_of."""
        unknown = set(options) - {"mode", "k"}
        if unknown:
            raise ValueError(f"recommender predictions take mode and k (got {', '.join(sorted(unknown))})")
        mode, k = str(options.get("mode", MODES[0])), int(options.get("k", K))
        if mode not in MODES:
            raise ValueError(f"--mode {mode}: choose one of {', '.join(MODES)}")
        recommender = recommender_of(model, f"{self.name} v{version}")
        return recommend_customers(recommender, version, ctx.tx, ctx.as_of, mode, k, ctx.progress)  # type: ignore[arg-type]

    def adapter(self, model: Any, version: str, ws: Workspace) -> RecommenderAdapter:
        return RecommenderAdapter(recommender_of(model, f"{self.name} v{version}"), version)


FAMILY = RecommenderFamily()
