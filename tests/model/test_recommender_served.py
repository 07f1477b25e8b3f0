"""The recommender's evaluation scores what is served and registered: the per-mode policy, fallbacks included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from training import families, run
from training.family import Context, Split
from training.recommend.baselines import fit_baselines
from training.recommend.batch import recommend_customers
from training.recommend.guard import ModePolicy
from training.recommend.metrics import recall_at_k

pytestmark = pytest.mark.model
FAMILY = families.family("recommender")


@pytest.fixture(scope="module")
def stages(built):
    """The runner's stages by hand on the shared simulated workspace, with the family's tiny settings: the
    evaluation fit (cross_sell forced to fall back to popularity), its evaluation, and the refit."""
    options, days = FAMILY.tiny["options"], FAMILY.tiny["horizon_days"]
    horizon = pd.Timedelta(days=days)
    ctx = run.context(built.ws, built.settings, None, days, progress=lambda _: None)
    data = FAMILY.dataset(ctx, Split(ctx.as_of - horizon, horizon, ctx.as_of), options)
    fitted = FAMILY.fit(ctx, data, options)
    judged = fitted.policy.get("cross_sell") or ModePolicy("model", "", 1.0, 0.0, 0.0, 0.0, 0, 0)
    policy = {**fitted.policy, "cross_sell": replace(judged, kind="fallback", baseline="popularity", weight=0.0)}
    fitted.reranker.policy = policy
    fitted.reranker.baselines = fit_baselines(policy, fitted.reranker.interactions)
    evaluation = FAMILY.evaluate(ctx, fitted, FAMILY.baselines(ctx, data), data)
    refit_data = FAMILY.dataset(ctx, Split(ctx.as_of, horizon), options)
    registered = FAMILY.refit(ctx, refit_data, options, fitted)
    return ctx, data, fitted, evaluation, registered


def test_the_evaluation_scores_the_lists_predict_serves(stages) -> None:
    """recall@10 of what `retail predict recommender` writes for the evaluation fit, on the evaluation's truth,
    is the evaluation's model figure in each mode; the cross_sell fallback is popularity's figure exactly."""
    ctx, data, fitted, evaluation, _ = stages
    truth = evaluation.eval_set
    as_of = data.split.train_end
    served_ctx = Context(ctx.ws, ctx.settings, as_of, ctx.tx[ctx.tx["ts"] < as_of], lambda _: None)
    m = evaluation.metrics
    for part, mode, new_only in (("all", "all", False), ("new", "cross_sell", True)):
        served = recommend_customers(fitted, "eval", served_ctx.tx, as_of, mode, 10, lambda _: None)
        lists = {c: g.sort_values("rank")["product_id"].tolist() for c, g in served.groupby("customer_id")}
        rows = truth[truth["never_bought"]] if new_only else truth
        wanted = {str(c): set(g) for c, g in rows.groupby("customer_id")["product_id"]}
        assert len(wanted) >= 50, part
        recall = float(np.mean([recall_at_k(lists.get(c, []), t, 10) for c, t in wanted.items()]))
        assert recall == pytest.approx(m[f"model_{part}_recall_at_10"]), part
    assert m["model_new_recall_at_10"] == pytest.approx(m["popularity_new_recall_at_10"])
    assert m["inner_cross_sell_model_share"] == 0.0 and m["inner_all_model_share"] == fitted.policy["all"].weight


def test_the_refit_registers_the_evaluated_decision_per_mode(stages) -> None:
    _, _, fitted, _, registered = stages
    assert registered.as_of > fitted.as_of  # the refit learnt from the evaluation period too
    decided = {m: (p.kind, p.baseline, p.weight, p.customers) for m, p in fitted.policy.items()}
    assert {m: (p.kind, p.baseline, p.weight, p.customers) for m, p in registered.policy.items()} == decided
    assert set(registered.reranker.baselines) == {p.baseline for p in registered.policy.values() if p.kind != "model"}
    x = registered.reranker.interactions
    customer = x.customer_ids[0]
    history = set(x.history(0).tolist())
    popular = registered.reranker.baselines["popularity"].candidates(0, [], 5, history)
    found = [i.product_id for i in registered.recommend(customer, [], "cross_sell", 5).items]
    assert found == [x.product_ids[i] for i, _ in popular]  # served as registered: popularity answers cross_sell
