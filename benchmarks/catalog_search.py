"""Catalogue search (`serving.commerce.catalog.search`, what `GET /v1/products` runs): latency per kind of query and
relevance on labelled queries, on SQLite and PostgreSQL.

Two catalogues:
1. the demo workspace's (`make demo`: 10,000 customers; `--workspace`, default `.`): its SQLite database (with its
   WAL) is copied to a temporary folder and the copy migrated, so the workspace is never written; its products,
   stores and stock are also copied into a fresh PostgreSQL database;
2. a simulated catalogue of `--products` (100,000) products made from the simulator's vocabulary
   (`features.simvocab`): brand, a product line (a made-up word), noun and tier in the name, a description,
   units sold, ratings and stock at the online shop and three stores; seeded into SQLite and PostgreSQL.
   Every attribute of product i depends only on i and the seed, so a smaller run keeps the first products.

Latency: `--requests` searches per kind, one at a time in this process (the function, or with `--route` the route
through FastAPI's in-process client), after a warm-up; the queries are drawn
from the catalogue (exact name, unfinished last word, category or noun, brand, a typo, a filtered search, browsing
by popularity in stock at a store, rating sort, a second page by cursor). Relevance: the labelled queries of
`benchmarks/catalog_queries.yaml` on the simulated catalogue; a query counts when its intended product is in the
top 5 (or, for a `rule`, when the top 5 are all products the rule describes); queries naming products beyond
`--products` are skipped. PostgreSQL: `--database-url` (an admin URL; a database is created per catalogue) or
`RETAIL_TEST_POSTGRES_URL`, else a throwaway cluster (tests/pgcluster.py). Prints tables; never fails on a time.

    .venv/bin/python benchmarks/catalog_search.py [--workspace DIR] [--products 100000] [--requests 200] [--route]
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from features.simvocab import BRANDS, CATEGORIES, TIER_LABEL, TIER_NAMES, TIER_PRICE
from retail.db import connect
from serving.commerce import catalog
from serving.commerce.tables import Inventory, Product, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pgcluster  # noqa: E402  (the tests' throwaway PostgreSQL)

QUERIES = Path(__file__).with_name("catalog_queries.yaml")
SYLLABLES = "ba ko ri ven tal mor si del ar lu ne qua zen pol ter vi sa mon ca dri fen gor ha jo kel lim nor ol pra rus"
LINES = 5_000  # product lines (made-up words), each shared by products of several categories
COLOURS = ("red", "blue", "graphite", "sage", "sand", "white", "black", "copper", "teal", "oat")
MATERIALS = ("steel", "bamboo", "cotton", "glass", "recycled plastic", "oak", "ceramic", "wool", "aluminium", "linen")
STORES = ("S00", "S01", "S02", "S03")  # S00 the online shop


def line_words(seed: int) -> list[str]:
    """`LINES` distinct made-up words of two or three syllables, the same for a seed."""
    rng = np.random.default_rng([seed, 1])
    parts = SYLLABLES.split()
    words: dict[str, None] = {}
    while len(words) < LINES:
        n = 2 + int(rng.random() < 0.5)
        words["".join(parts[i] for i in rng.integers(0, len(parts), n))] = None
    return list(words)


def simulated(n: int, seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(product rows, inventory rows) of an `n`-product catalogue; product i is the same for every n > i."""
    attribute = iter(np.random.SeedSequence(seed).spawn(12))

    def draw(f: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
        return f(np.random.default_rng(next(attribute)))

    names, lines = list(CATEGORIES), line_words(seed)
    cat = draw(lambda r: r.integers(0, len(names), n))
    noun_i = draw(lambda r: r.integers(0, 4, n))
    brand_i = draw(lambda r: r.integers(0, 3, n))
    tier = draw(lambda r: r.choice(3, size=n, p=[0.45, 0.33, 0.22]))
    line = draw(lambda r: r.integers(0, LINES, n))
    noise = draw(lambda r: r.uniform(0.85, 1.15, n))
    sold = draw(lambda r: np.floor(r.lognormal(2.0, 1.3, n))).astype(int)
    count = draw(lambda r: r.poisson(4.0, n))
    mean = draw(lambda r: np.clip(r.normal(3.9, 0.7, n), 1, 5))
    colour = draw(lambda r: r.integers(0, len(COLOURS), n))
    material = draw(lambda r: r.integers(0, len(MATERIALS), n))
    stock = draw(lambda r: r.integers(-3, 12, (n, len(STORES))))
    products, inventory, now = [], [], np.datetime64("2026-12-01T00:00:00").astype(object)
    for i in range(n):
        category = names[cat[i]]
        noun = CATEGORIES[category][1][noun_i[i]]
        brand = BRANDS[(cat[i] * 3 + brand_i[i]) % len(BRANDS)]
        word = lines[line[i]].capitalize()
        pid = f"P{i + 1:06d}"
        products.append(
            {
                "product_id": pid,
                "name": f"{brand} {word} {noun} {TIER_LABEL[tier[i]]}",
                "category": category,
                "brand": brand,
                "tier": TIER_NAMES[tier[i]],
                "price_cents": int(round(CATEGORIES[category][0] * TIER_PRICE[tier[i]] * noise[i] * 100)),
                "description": f"{noun.capitalize()} in {COLOURS[colour[i]]}, made of {MATERIALS[material[i]]}, "
                f"from the {word} range by {brand}.",
                "sold_units": int(sold[i]),
                "rating_count": int(count[i]),
                "rating_sum": int(round(mean[i] * count[i])),
            }
        )
        inventory += [
            {"store_id": s, "product_id": pid, "on_hand": int(q), "reserved": 0, "updated_at": now}
            for s, q in zip(STORES, stock[i], strict=True)
            if q > 0
        ]
    return products, inventory


def load(engine: Engine, products: list[dict[str, Any]], inventory: list[dict[str, Any]]) -> None:
    stores = [{"store_id": s, "name": s, "kind": "online" if s == "S00" else "store"} for s in STORES]
    with engine.begin() as c:
        c.execute(insert(Store), stores)
        for table, rows in ((Product, products), (Inventory, inventory)):
            for start in range(0, len(rows), 5_000):
                c.execute(insert(table), rows[start : start + 5_000])


def demo_rows(engine: Engine) -> dict[type, list[dict[str, Any]]]:
    """The demo database's stores, products and stock, as rows to copy into PostgreSQL."""
    out: dict[type, list[dict[str, Any]]] = {}
    with Session(engine) as s:
        for table in (Store, Product, Inventory):
            columns = [c for c in table.__table__.columns]  # type: ignore[attr-defined]
            out[table] = [dict(r._mapping) for r in s.execute(select(*columns))]
    return out


# --- queries --------------------------------------------------------------------------------------------------


def typo(word: str, rng: random.Random) -> str:
    """One slip: two neighbouring inner letters swapped, or one dropped."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i + 1 :]


def query_pools(
    rows: list[dict[str, Any]], stores: list[str], seed: int = 3, size: int = 400
) -> dict[str, list[dict[str, Any]]]:
    """Search arguments per kind, drawn from the catalogue's own products."""
    rng = random.Random(seed)
    picks = [rng.choice(rows) for _ in range(size)]
    nouns = sorted(
        {n for _, ns, _, _ in CATEGORIES.values() for n in ns} | {r["category"] for r in rows if r["category"]}
    )
    brands = sorted({r["brand"] for r in rows if r["brand"]}) or ["x"]
    pools: dict[str, list[dict[str, Any]]] = {"exact": [], "prefix": [], "category": [], "brand": [], "typo": []}
    for r in picks:
        words = r["name"].lower().split()
        pools["exact"].append({"q": r["name"]})
        k = rng.randrange(len(words))
        pools["prefix"].append({"q": " ".join(words[:k] + [words[k][: max(3, len(words[k]) // 2)]])})
        longest = max(words, key=len)
        pools["typo"].append({"q": " ".join(typo(w, rng) if w == longest else w for w in words[:3])})
        pools["category"].append({"q": rng.choice(nouns)})
        pools["brand"].append({"q": rng.choice(brands)})
    pools["filtered"] = [
        {
            "q": rng.choice(nouns),
            "tier": rng.choice(["good", "better", "best"]),
            "max_price": 60.0,
            "in_stock": "online",
        }
        for _ in range(size)
    ]
    pools["browse"] = [{"in_stock": rng.choice(stores)} for _ in range(size)]
    pools["rating"] = [{"sort": "rating", "category": rng.choice(nouns)} for _ in range(size)]
    pools["page 2"] = [{"q": rng.choice(nouns), "page": 2} for _ in range(size)]
    return pools


Search = Callable[[dict[str, Any]], dict[str, Any]]


def in_process(engine: Engine) -> Search:
    """`catalog.search` itself, its page as JSON."""
    return lambda args: catalog.search(engine, **args).model_dump()


@contextmanager
def through_route(engine: Engine) -> Iterator[Search]:
    """`GET /v1/products` of the order API app in this process (FastAPI's TestClient: validation, an app key's
    check, the JSON answer; no network)."""
    from fastapi.testclient import TestClient

    from serving.auth import create_key
    from serving.commerce.app import create_app

    app = create_app()
    app.state.db_engine = engine
    key, _ = create_key(engine, "app", name="catalog benchmark")
    with TestClient(app) as client:
        yield lambda args: client.get("/v1/products", params=args, headers={"Authorization": f"Bearer {key}"}).json()


def run_one(search: Search, args: dict[str, Any]) -> dict[str, Any]:
    args = dict(args)
    if args.pop("page", 1) == 2:
        first = search(args)
        return search({**args, "cursor": first["next_cursor"]}) if first["next_cursor"] else first
    return search(args)


def latency(search: Search, pools: dict[str, list[dict[str, Any]]], requests: int) -> dict[str, tuple[float, ...]]:
    """(p50, p95, max) ms per kind; a second page is timed for both calls together."""
    figures = {}
    for kind, pool in pools.items():
        for args in pool[:10]:
            run_one(search, args)  # warm-up
        times = []
        for i in range(requests):
            start = time.perf_counter()
            run_one(search, pool[i % len(pool)])
            times.append((time.perf_counter() - start) * 1000)
        figures[kind] = (float(np.percentile(times, 50)), float(np.percentile(times, 95)), max(times))
    return figures


def relevance(engine: Engine, labelled: list[dict[str, Any]], n: int) -> dict[str, tuple[int, int]]:
    """(hits, asked) per kind: intended product in the top 5 (or a `rule`'s products filling the top 5)."""
    scores: dict[str, tuple[int, int]] = {}
    for item in labelled:
        wanted = {p for p in item.get("ids", []) if int(p[1:]) <= n}
        if item.get("ids") and not wanted:
            continue
        top = catalog.search(engine, item["q"], limit=5).items
        if wanted:
            hit = any(t.product_id in wanted for t in top)
        else:
            rule = item["rule"]
            hit = bool(top) and all(
                all(str(getattr(t, field) or "").lower().find(str(v).lower()) >= 0 for field, v in rule.items())
                for t in top
            )
        if not hit and os.environ.get("CATALOG_VERBOSE"):
            typer.echo(f"  miss [{item['kind']}] {item['q']!r}: {[(t.product_id, t.name) for t in top]}")
        got, asked = scores.get(item["kind"], (0, 0))
        scores[item["kind"]] = (got + hit, asked + 1)
    return scores


def show_latency(title: str, figures: dict[str, tuple[float, ...]]) -> None:
    typer.echo(f"\n{title}\n{'kind':<10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, (p50, p95, worst) in figures.items():
        typer.echo(f"{kind:<10} {p50:>8.1f} {p95:>8.1f} {worst:>8.1f}")


def show_relevance(title: str, scores: dict[str, tuple[int, int]]) -> None:
    typer.echo(f"\n{title}: intended product in the top 5")
    for kind, (got, asked) in scores.items():
        typer.echo(f"{kind:<10} {got:>3}/{asked:<3} {got / asked:.2f}")
    got, asked = sum(g for g, _ in scores.values()), sum(a for _, a in scores.values())
    typer.echo(f"{'overall':<10} {got:>3}/{asked:<3} {got / max(asked, 1):.2f}")


WHAT = {False: "", True: ", through GET /v1/products"}


@contextmanager
def measured(engine: Engine, route: bool) -> Iterator[Search]:
    if route:
        with through_route(engine) as search:
            yield search
    else:
        yield in_process(engine)


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """An admin URL: the one given, the tests' server, or a throwaway cluster."""
    given = url or os.environ.get(pgcluster.ENV_URL)
    if given:
        yield given
        return
    with pgcluster.server() as started:
        yield started


def demo_database(workspace: Path, folder: Path) -> Path:
    """A copy of the workspace's SQLite database (with its write-ahead log), never the original."""
    source = workspace / "data" / "app.db"
    if not source.exists():
        raise typer.BadParameter(f"no database at {source}: build the demo workspace first (make demo)")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy2(f"{source}{suffix}", folder / f"app.db{suffix}")
    return folder / "app.db"


def main(
    workspace: Annotated[Path, typer.Option(help="The demo workspace (read only: its database is copied).")] = Path(
        "."
    ),
    products: Annotated[int, typer.Option(help="Products in the simulated catalogue.")] = 100_000,
    requests: Annotated[int, typer.Option(help="Searches per kind of query and database.")] = 200,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL admin URL; default: a throwaway server.")] = None,
    skip_demo: Annotated[bool, typer.Option(help="Only the simulated catalogue.")] = False,
    route: Annotated[
        bool, typer.Option(help="Time GET /v1/products (in-process client) instead of the function.")
    ] = False,
) -> None:
    labelled = yaml.safe_load(QUERIES.read_text())["queries"]
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as tmp, postgres(database_url) as admin:
        folder = Path(tmp)
        if not skip_demo:
            start = time.perf_counter()
            lite = connect(f"sqlite:///{demo_database(workspace, folder)}")  # migrates the copy up
            rows = demo_rows(lite)
            pg = connect(pgcluster.fresh_database(admin))
            with pg.begin() as c:
                for table in (Store, Product, Inventory):
                    c.execute(insert(table), rows[table])
            typer.echo(f"demo catalogue: {len(rows[Product])} products, ready in {time.perf_counter() - start:.1f} s")
            pools = query_pools(rows[Product], [r["store_id"] for r in rows[Store]])
            for name, engine in (("SQLite", lite), ("PostgreSQL", pg)):
                with measured(engine, route) as search:
                    show_latency(f"demo workspace, {name}{WHAT[route]}", latency(search, pools, requests))
        start = time.perf_counter()
        rows_p, rows_i = simulated(products)
        made = time.perf_counter() - start
        typer.echo(f"\nsimulated catalogue: {products} products, {len(rows_i)} stock rows ({made:.1f} s)")
        for name, url in (
            ("SQLite", f"sqlite:///{folder / 'sim.db'}"),
            ("PostgreSQL", pgcluster.fresh_database(admin)),
        ):
            start = time.perf_counter()
            engine = connect(url)
            load(engine, rows_p, rows_i)
            if name == "PostgreSQL":
                with engine.begin() as c:
                    c.exec_driver_sql("ANALYZE")
            typer.echo(f"{name}: seeded in {time.perf_counter() - start:.1f} s")
            pools = query_pools(rows_p, list(STORES))
            with measured(engine, route) as search:
                show_latency(f"simulated {products} products, {name}{WHAT[route]}", latency(search, pools, requests))
            show_relevance(f"labelled queries, {name}", relevance(engine, labelled, products))
            engine.dispose()


if __name__ == "__main__":
    typer.run(main)
