"""Latency of GET /v1/customers/{id}/profile, in process, with the churn and recommender champions loaded.

Uses a trained workspace (`--workspace`, e.g. `make demo`'s) or builds one: simulates customers, builds
features, seeds the order database and trains churn and the recommender with light settings. Then gives
`--customers-with-orders` customers a few orders (in stores and online, some paid, some open) and feedback,
loads the runtime the Bento uses (models, feature store, stock), and times `--requests` profiles of random
customers through FastAPI's TestClient with an admin key: p50/p95/p99 of the whole request, and the median of
each section called on its own. Never fails on a time.

    .venv/bin/python benchmarks/profile_latency.py [--workspace DIR] [--requests 500]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from serving.commerce.tables import Customer, Inventory


def build(root: Path, customers: int) -> tuple[Workspace, Settings]:
    """Simulate, build features, seed the order database, train churn and the recommender (light settings)."""
    from features.build import build_features
    from features.rawio import write_tables
    from features.simulate import simulate
    from serving.commerce.seed import seed
    from training import promotion, run, tracking
    from training.churn.options import ChurnOptions
    from training.recommend.family import RecommenderOptions
    from training.recommend.rerank import RerankConfig
    from training.sentiment.batch import review_scores

    settings = Settings(workspace=root)
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(n_customers=customers, days=365, seed=7))
    build_features(ws, settings, review_scores=review_scores)
    seed(db.engine(ws, settings), ws)
    ranking = RerankConfig(n_estimators=60, learning_rate=0.1, earlier_cutoffs_days=(30,), cart_sessions=300)
    light = {
        "churn": {"horizon_days": 60, "options": ChurnOptions(cutoffs=4)},
        "recommender": {"horizon_days": 30, "options": RecommenderOptions(config=ranking)},
    }
    for name, kwargs in light.items():
        started = time.perf_counter()
        result = run.train(name, ws, settings, **kwargs)
        if result.lost:
            promotion.promote(tracking.connect(ws, settings), name, force=True)
        typer.echo(f"trained {name} v{result.version} in {time.perf_counter() - started:.0f}s")
    return ws, settings


def shop_history(engine: Engine, n: int, seed: int) -> list[str]:
    """Orders (1-5 each, mixed stores and statuses) and feedback for `n` random customers; their ids."""
    from serving.commerce import feedback, orders
    from serving.commerce.feedback import FeedbackIn
    from serving.commerce.payloads import OrderIn

    rng = random.Random(seed)
    with Session(engine) as s, s.begin():
        ids = sorted(s.scalars(select(Customer.customer_id)))
        stock = s.execute(select(Inventory.store_id, Inventory.product_id).where(Inventory.on_hand > 0)).all()
        s.execute(update(Inventory).values(on_hand=Inventory.on_hand + 100_000))
    by_store: dict[str, list[str]] = {}
    for store_id, product_id in stock:
        by_store.setdefault(store_id, []).append(product_id)
    stores = sorted(by_store)
    chosen = rng.sample(ids, min(n, len(ids)))
    for customer_id in chosen:
        home = rng.choice(stores)
        for _ in range(rng.randint(1, 5)):
            store_id = home if rng.random() < 0.7 else rng.choice(stores)
            lines = [
                {"product_id": p, "quantity": 1}
                for p in rng.sample(by_store[store_id], min(2, len(by_store[store_id])))
            ]
            body = {"customer_id": customer_id, "channel": "web", "fulfilment": "pickup", "store_id": store_id}
            order, _ = orders.place_order(
                engine, f"bench-{uuid.uuid4().hex}", OrderIn.model_validate(body | {"lines": lines})
            )
            if rng.random() < 0.6:
                orders.set_status(engine, order.order_id, "paid")
        text = rng.choice(["Lovely fit, will buy again.", "The zip broke after a week."])
        feedback.create(engine, FeedbackIn(customer_id=customer_id, text=text))
    return chosen


def timed(call: Callable[[], Any], n: int) -> np.ndarray:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return np.asarray(times)


def main(
    workspace: Annotated[Path | None, typer.Option(help="A trained workspace (default: build one).")] = None,
    customers: Annotated[int, typer.Option(help="Customers to simulate when building.")] = 2000,
    customers_with_orders: Annotated[int, typer.Option(help="Customers given orders and feedback.")] = 200,
    requests: Annotated[int, typer.Option(help="Profiles to time.")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    from fastapi.testclient import TestClient

    from serving import auth
    from serving.commerce import customers
    from serving.commerce.app import create_app
    from serving.commerce.stock import Stock
    from serving.endpoints import profile
    from serving.runtime import Runtime

    if workspace is None:
        root = Path(tempfile.mkdtemp(prefix="profile-bench-"))
        ws, settings = build(root, customers)
    else:
        settings = Settings(workspace=workspace)
        ws = Workspace.at(workspace)
    engine = db.engine(ws, settings)
    ids = shop_history(engine, customers_with_orders, seed)
    rt = Runtime(ws, settings, Stock(ws, database_url=db.url(ws, settings)))
    rt.start()
    if not rt.ready.is_set():
        raise SystemExit(f"runtime not ready: {rt.load_error}")
    app = create_app()
    app.include_router(profile.router)  # as the service composes it
    app.state.db_engine, app.state.runtime = engine, rt
    key, _ = auth.create_key(engine, "admin", name="profile benchmark")
    rng = random.Random(seed)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        first = client.get(f"/v1/customers/{ids[0]}/profile", headers=headers).json()
        typer.echo(
            f"sections: churn {'yes' if first['churn'] else 'no'}, "
            f"{len((first['recommendations'] or {}).get('items', []))} offers, notes {first['notes']}"
        )
        for _ in range(20):  # warm-up: caches, connection pool, model first calls
            client.get(f"/v1/customers/{rng.choice(ids)}/profile", headers=headers)
        statuses: dict[int, int] = {}
        filled = {"churn": 0, "offers": 0}

        def one() -> None:
            answer = client.get(f"/v1/customers/{rng.choice(ids)}/profile", headers=headers)
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            body = answer.json()
            filled["churn"] += body["churn"] is not None
            filled["offers"] += bool((body["recommendations"] or {}).get("items"))

        ms = timed(one, requests)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    typer.echo(
        f"GET /v1/customers/{{id}}/profile, {requests} requests in process: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, statuses {statuses}, with churn {filled['churn']}, "
        f"with offers {filled['offers']}"
    )
    notes = profile.Notes()
    sections: dict[str, Callable[..., Any]] = {
        "order summary": lambda c: customers.order_summary(engine, c),
        "open orders": lambda c: customers.open_orders(engine, c, profile.OPEN_ORDERS),
        "loyalty": lambda c: profile.loyalty_summary(engine, c),
        "churn": lambda c: profile.churn_section(rt, engine, c),
        "feedback": lambda c: customers.recent_feedback(engine, c, profile.RECENT_FEEDBACK),
        "recommendations": lambda c: profile.recommendations(rt, c, None, notes),
    }
    for name, section in sections.items():
        times = timed(lambda s=section, n=name: notes.fill(n, s, rng.choice(ids), default=None), 100)
        typer.echo(f"  {name:<16} median {statistics.median(times):.2f} ms")


if __name__ == "__main__":
    typer.run(main)
