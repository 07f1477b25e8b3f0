"""The recommender family's training options and defaults.

Kept apart from `family.py` so that the CLI reads its defaults without importing the model code (`retail --help`
stays fast); `RecommenderFamily` declares them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field

from training.family import Options

if TYPE_CHECKING:  # annotations only (see `RerankConfig.sources` and `ranker`)
    from lightgbm import LGBMRanker

    from training.recommend.candidates import CandidateSource

HORIZON_DAYS = 30  # held-out days before the cutoff, and the rankers' label window
K = 10  # products per customer in a batch, and the evaluation's recall@K and NDCG@K
Mode = Literal["all", "cross_sell", "up_sell"]  # what a recommendation may offer (see `ranking`)
MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class RerankConfig:
    """Sources, how many candidates each proposes, and the ranker's settings."""

    als_factors: int = 128
    als_iterations: int = 15
    als_half_life_days: float | None = 90.0  # recency-weighted orders: better ALS alone on inner validation folds
    bpr_factors: int = 64
    bpr_iterations: int = 100
    proposals: dict[str, int] = field(
        default_factory=lambda: {"als": 80, "bpr": 40, "co_order": 50, "co_customer": 30, "repeat": 40, "popular": 40}
    )
    recent_days: float = 30.0
    earlier_cutoffs_days: tuple[int, ...] = (30,)  # more label windows, each this much before the inner cutoff
    later_cutoffs_days: tuple[int, ...] = (30, 60)  # and after it: shorter windows, cut at `as_of`, nearer the future
    n_estimators: int = 120
    learning_rate: float = 0.08
    num_leaves: int = 15
    min_child_samples: int = 200
    seed: int = 0
    num_threads: int = 2
    batch_size: int = 256
    predict_threads: int = 1  # a request's few hundred rows: threads cost more than they save (batches use all)
    cart_sessions: int = 1000  # orders split into (cart, rest) per label window, to learn what a cart says
    validation_share: float = 0.3  # of the customers labelled at the inner cutoff, held out to judge the model

    def sources(self) -> dict[str, CandidateSource]:
        """Fresh, unfitted sources; their names prefix the per-source features."""
        # deliberately lazy: the options load for `retail --help`, implicit only when a model is fitted
        from training.recommend.candidates import CoPurchase, ImplicitALS, ImplicitBPR, Popularity, Repeat

        return {
            "als": ImplicitALS(
                factors=self.als_factors,
                iterations=self.als_iterations,
                random_state=self.seed,
                num_threads=self.num_threads,
                half_life_days=self.als_half_life_days,
            ),
            "bpr": ImplicitBPR(factors=self.bpr_factors, iterations=self.bpr_iterations, random_state=self.seed),
            "co_order": CoPurchase(),
            "co_customer": CoPurchase(by="customer"),
            "repeat": Repeat(half_life_days=90),
            "popular": Popularity(half_life_days=self.recent_days),
        }

    def ranker(self) -> LGBMRanker:
        # deliberately lazy: the options load for `retail --help`, LightGBM only when a model is fitted
        from lightgbm import LGBMRanker

        return LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            lambdarank_truncation_level=20,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=self.num_threads,
            verbose=-1,
        )


class RecommenderOptions(Options):
    config: RerankConfig = Field(default_factory=RerankConfig, description="Sources and ranker settings.")

    def params(self) -> dict[str, Any]:
        flat = asdict(self.config)
        proposals = flat.pop("proposals")
        return {f"rerank_{k}": v for k, v in flat.items()} | {f"proposals_{k}": v for k, v in proposals.items()}
