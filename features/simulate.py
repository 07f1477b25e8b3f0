"""Seeded simulator of a retailer's raw data: the product's default data set and the tests' known answers.

The world has structure every model can find: customers with category tastes, tier preferences, purchase
rates and life spans (churn); weekly and December seasonality; good/better/best tiers; complementary products;
promotions that lower prices and lift demand; returns; inventory with stock-outs; reviews whose wording
follows the rating. Everything is vectorised over customers, orders and lines, and every component draws
from its own child of one `SeedSequence`, so the catalogue does not change when only the number of customers
does, and `ground_truth` can replay the latent facts (churn dates, complements) without simulating orders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.simvocab import (
    BRANDS,
    CATEGORIES,
    FIRST_NAMES,
    LAST_NAMES,
    OPENINGS,
    REGIONS,
    REMARKS,
    SPECS,
    STORE_HOURS,
    TIER_LABEL,
    TIER_NAMES,
    TIER_PITCH,
    TIER_PRICE,
    WEEKLY,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Catalog:
    frame: pd.DataFrame
    cat: np.ndarray  # category index per product
    tier: np.ndarray  # 0 good, 1 better, 2 best
    price: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray  # latent; drives ratings and returns
    noun: np.ndarray
    complement: np.ndarray  # product index bought after this one, -1 for none


@dataclass(frozen=True)
class _Population:
    frame: pd.DataFrame
    first_day: np.ndarray  # first active day index in the window
    end_day: np.ndarray  # exclusive; equals `days` for customers who do not churn inside the window
    rate: np.ndarray  # orders per year while active
    taste: np.ndarray  # (customers, categories) preference, rows sum to 1
    tier_pref: np.ndarray  # (customers, 3), rows sum to 1
    home: np.ndarray  # store index (0 = online)


@dataclass(frozen=True)
class _World:
    """Everything drawn before any order: the latent facts `ground_truth` replays."""

    rngs: dict[str, np.random.Generator]
    catalog: _Catalog
    stores: pd.DataFrame
    pop: _Population
    start: pd.Timestamp
    end: pd.Timestamp
    days: int


def _names(n: int) -> list[str]:
    """Made-up names, a function of the customer's number alone (no random draw: other draws stay as they were)."""
    first, last = len(FIRST_NAMES), len(LAST_NAMES)
    return [f"{FIRST_NAMES[i % first]} {LAST_NAMES[(i // first + 7 * i) % last]}" for i in range(n)]


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    """Readable ids ("C00001"); the width grows when n needs more digits."""
    width = max(width, len(str(n)))
    numbers = np.char.zfill(np.arange(1, n + 1).astype(str), width)
    return np.char.add(prefix, numbers).astype(object)


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    parts = ("catalog", "stores", "customers", "orders", "lines", "promos", "returns", "reviews", "inventory", "specs")
    children = np.random.SeedSequence(seed).spawn(len(parts))
    return {p: np.random.default_rng(c) for p, c in zip(parts, children, strict=True)}


def _rowwise_choice(cum: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column per entry of `rows`, drawn from that row's cumulative probabilities (no (rows, k) temp)."""
    k = cum.shape[1]
    flat = (cum + np.arange(len(cum))[:, None]).ravel()
    picked = np.searchsorted(flat, rows + rng.random(len(rows)), side="right") - rows * k
    return np.clip(picked, 0, k - 1)


def _normalised_cumsum(weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    return cum


def _catalog(n_products: int, rng: np.random.Generator) -> _Catalog:
    names = list(CATEGORIES)[: max(1, min(len(CATEGORIES), n_products))]
    n_cat = len(names)
    cat = rng.permutation(np.arange(n_products) % n_cat)
    tier = rng.choice(3, size=n_products, p=[0.45, 0.33, 0.22])
    tier[: 3 * n_cat] = (np.arange(min(n_products, 3 * n_cat)) // n_cat) % 3  # every category has every tier
    base = np.array([CATEGORIES[c][0] for c in names])
    price = np.round(base[cat] * TIER_PRICE[tier] * rng.uniform(0.85, 1.15, n_products), 2)
    popularity = rng.lognormal(0.0, 1.0, n_products) * np.array([1.4, 1.0, 0.7])[tier]
    quality = rng.normal(0.0, 1.0, n_products) + 0.3 * (tier - 1)
    noun_idx = rng.integers(0, 4, n_products)
    noun = np.array([CATEGORIES[names[c]][1][i] for c, i in zip(cat, noun_idx, strict=True)], dtype=object)
    brand = np.array(BRANDS, dtype=object)[(cat * 3 + rng.integers(0, 3, n_products)) % len(BRANDS)]
    complement = np.full(n_products, -1)
    anchors = np.flatnonzero(rng.random(n_products) < 0.4)
    partner_cat = np.array(
        [names.index(CATEGORIES[c][3]) if CATEGORIES[c][3] in names else i for i, c in enumerate(names)]
    )
    for a in anchors:  # a few hundred anchors at most: the catalogue is small
        pool = np.flatnonzero((cat == partner_cat[cat[a]]) & (np.arange(n_products) != a))
        if len(pool):
            complement[a] = rng.choice(pool, p=popularity[pool] / popularity[pool].sum())
    frame = pd.DataFrame(
        {
            "product_id": _ids("P", n_products, 4),
            "name": brand + " " + noun + " " + TIER_LABEL[tier],
            "category": np.array(names, dtype=object)[cat],
            "brand": brand,
            "list_price": price,
            "tier": TIER_NAMES[tier],
        }
    )
    return _Catalog(frame, cat, tier, price, popularity, quality, noun, complement)


def _specifications(catalog: _Catalog, rng: np.random.Generator) -> tuple[list[str], pd.DataFrame]:
    """A description per product and its specifications ("type" = its noun first, then its category's `SPECS`).

    The tier picks which values a specification draws from, so a better tier's values are better ones.
    """
    frame = catalog.frame
    ids, category = frame["product_id"].to_numpy(), frame["category"].to_numpy()
    n = len(ids)
    columns: dict[str, list[np.ndarray]] = {"product": [np.arange(n)], "position": [np.zeros(n, dtype=np.int64)]}
    columns |= {"name": [np.full(n, "type", dtype=object)], "value": [catalog.noun.astype(object)]}
    details = np.full(n, "", dtype=object)
    for name, specs in SPECS.items():  # a fixed order: the same seed draws the same values
        members = np.flatnonzero(category == name)
        if not len(members):
            continue
        tier = catalog.tier[members]
        for position, (spec, choices) in enumerate(specs, start=1):
            u = rng.random(len(members))
            values = np.empty(len(members), dtype=object)
            for t in range(3):
                options = np.array(choices[t], dtype=object)
                values[tier == t] = options[(u[tier == t] * len(options)).astype(np.int64)]
            columns["product"].append(members)
            columns["position"].append(np.full(len(members), position, dtype=np.int64))
            columns["name"].append(np.full(len(members), spec, dtype=object))
            columns["value"].append(values)
            details[members] = details[members] + np.where(position == 1, "", ", ") + spec + " " + values
    rows = pd.DataFrame({k: np.concatenate(v) for k, v in columns.items()})
    rows = rows.sort_values(["product", "position"], kind="stable")
    attributes = pd.DataFrame(
        {"product_id": ids[rows["product"].to_numpy()], "name": rows["name"].to_numpy(), "value": rows["value"]}
    ).reset_index(drop=True)
    brand, label, pitch = frame["brand"].to_numpy(), TIER_LABEL[catalog.tier], TIER_PITCH[catalog.tier]
    description = [
        f"{noun[:1].upper()}{noun[1:]} by {b}, {lab} range: {d}. {p}" if d else f"{noun[:1].upper()}{noun[1:]} by {b}."
        for noun, b, lab, d, p in zip(catalog.noun, brand, label, details, pitch, strict=True)
    ]
    return description, attributes


def _stores(n_stores: int) -> pd.DataFrame:
    store_ids = np.concatenate([["S00"], [f"S{i:02d}" for i in range(1, n_stores + 1)]]).astype(object)
    regions = [None] + [REGIONS[(i - 1) % len(REGIONS)] for i in range(1, n_stores + 1)]
    names = ["Online shop"] + [f"{regions[i]} store {i}" for i in range(1, n_stores + 1)]
    kinds = ["online"] + ["store"] * n_stores
    return pd.DataFrame({"store_id": store_ids, "name": names, "kind": kinds, "region": regions})


def _dirichlet(alpha: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    g = rng.gamma(alpha, size=(n, len(alpha))) + 1e-12
    return g / g.sum(axis=1, keepdims=True)


def _population(
    n: int, days: int, start: pd.Timestamp, n_cat: int, stores: pd.DataFrame, rng: np.random.Generator
) -> _Population:
    existing = rng.random(n) < 0.45  # signed up before the window opened
    signup = np.where(existing, -rng.uniform(1, 3 * 365, n), days * rng.random(n) ** 0.8)
    first_day = np.maximum(np.floor(signup), 0).astype(np.int64)
    loyal = rng.random(n) < 0.3  # never churn; the rest leave after an exponential life span
    churn = np.where(loyal, np.inf, first_day + 30 + rng.exponential(420, n))
    end_day = np.minimum(churn, days).astype(np.int64)
    rate = np.clip(rng.gamma(1.6, 4.0, n), 0.5, None)
    global_taste = np.linspace(1.5, 0.5, n_cat) / np.linspace(1.5, 0.5, n_cat).sum()
    taste = 0.85 * _dirichlet(np.full(n_cat, 0.4), n, rng) + 0.15 * global_taste
    tier_pref = _dirichlet(np.array([2.0, 1.5, 1.0]), n, rng)
    n_physical = len(stores) - 1
    online = (rng.random(n) < 0.35) | (n_physical == 0)
    home = np.where(online, 0, 1 + rng.integers(0, max(n_physical, 1), n))
    region = np.where(
        online,
        np.array(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), n)],
        stores["region"].to_numpy()[home],
    )
    ids = _ids("C", n, 5)
    names = _names(n)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "signup_date": start + pd.to_timedelta(np.floor(signup), unit="D"),
            "region": region,
            "channel": np.where(online, "online", "store").astype(object),
            "name": names,
            "email": [
                f"{name.lower().replace(' ', '.')}.{i[1:]}@example.com" for name, i in zip(names, ids, strict=True)
            ],
        }
    )
    return _Population(frame, first_day, end_day, rate, taste, tier_pref, home)


def _day_weights(start: pd.Timestamp, days: int) -> np.ndarray:
    """Relative busyness per day: weekends up, a December peak with a late-November (Black Friday) bump."""
    dates = pd.date_range(start, periods=days, freq="D")
    doy = dates.dayofyear.to_numpy()
    dist = np.abs(doy - 348)
    dist = np.minimum(dist, 365 - dist)
    yearly = 1 + 0.9 * np.exp(-0.5 * (dist / 10) ** 2) + 0.35 * np.exp(-0.5 * ((doy - 331) / 3) ** 2)
    weights = WEEKLY[dates.dayofweek.to_numpy()] * yearly
    return weights / weights.mean()


def _orders(w: _World) -> pd.DataFrame:
    """Orders per customer from a Poisson count, their days by inverse CDF of the seasonal day weights."""
    pop, rng, n_stores = w.pop, w.rngs["orders"], len(w.stores) - 1
    cum = np.concatenate([[0.0], np.cumsum(_day_weights(w.start, w.days))])
    lo, hi = cum[pop.first_day], cum[np.maximum(pop.end_day, pop.first_day)]
    counts = rng.poisson(pop.rate / 365.0 * (hi - lo))
    cust = np.repeat(np.arange(len(counts)), counts)
    u = lo[cust] + rng.random(len(cust)) * (hi - lo)[cust]
    day = np.clip(np.searchsorted(cum, u, side="right") - 1, pop.first_day[cust], pop.end_day[cust] - 1)
    order = np.lexsort((day, cust))
    cust, day = cust[order], day[order]
    away = rng.random(len(cust)) < 0.15
    store = np.where(away, rng.integers(0, n_stores + 1, len(cust)), pop.home[cust])
    online = store == 0
    h = np.arange(24)
    online_hours = 0.3 + 2 * np.exp(-0.5 * ((h - 12) / 2.5) ** 2) + 3 * np.exp(-0.5 * ((h - 20) / 2.5) ** 2)
    hours = np.stack([online_hours / online_hours.sum(), STORE_HOURS / STORE_HOURS.sum()])
    hour = np.where(online, rng.choice(24, len(cust), p=hours[0]), rng.choice(24, len(cust), p=hours[1]))
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, len(cust))
    guest = ~online & (rng.random(len(cust)) < 0.04)  # paid in store without a loyalty card
    return pd.DataFrame({"cust": cust, "day": day, "store": store, "seconds": seconds, "guest": guest})


def _choose_products(
    cat_of_line: np.ndarray,
    tier_of_line: np.ndarray,
    week: np.ndarray,
    catalog: _Catalog,
    boost: np.ndarray,
    rng,
) -> np.ndarray:
    """Product per line within its (category, tier), by popularity times this week's promotion lift."""
    product = np.empty(len(cat_of_line), dtype=np.int64)
    for c in np.unique(catalog.cat):
        for t in range(3):
            lines = np.flatnonzero((cat_of_line == c) & (tier_of_line == t))
            if not len(lines):
                continue
            pool = np.flatnonzero((catalog.cat == c) & (catalog.tier == t))
            if not len(pool):
                pool = np.flatnonzero(catalog.cat == c)
            w = catalog.popularity[pool][None, :] * boost[:, pool][week[lines]]
            product[lines] = pool[_rowwise_choice(_normalised_cumsum(w), np.arange(len(lines)), rng)]
    return product


def _lines(w: _World, orders: pd.DataFrame, discount: np.ndarray) -> pd.DataFrame:
    """Lines: category by taste, tier by preference, product by popularity and promotion, plus complements."""
    pop, catalog, rng, n_orders = w.pop, w.catalog, w.rngs["lines"], len(orders)
    per_order = 1 + rng.poisson(1.3, n_orders)
    order = np.repeat(np.arange(n_orders), per_order)
    cust = orders["cust"].to_numpy()[order]
    week = orders["day"].to_numpy()[order] // 7
    cat = _rowwise_choice(np.cumsum(pop.taste, axis=1), cust, rng)
    tier = _rowwise_choice(np.cumsum(pop.tier_pref, axis=1), cust, rng)
    product = _choose_products(cat, tier, week, catalog, 1 + 3 * discount, rng)
    # complements: some purchases of an anchor pull its partner into this order or the customer's next one
    partner = catalog.complement[product]
    pulled = np.flatnonzero((partner >= 0) & (rng.random(len(product)) < 0.35))
    later = rng.random(len(pulled)) < 0.3
    target = order[pulled] + later
    same_customer = target < n_orders
    same_customer[same_customer] = orders["cust"].to_numpy()[target[same_customer]] == cust[pulled][same_customer]
    order = np.concatenate([order, target[same_customer]])
    product = np.concatenate([product, partner[pulled][same_customer]])
    week = orders["day"].to_numpy()[order] // 7
    off = discount[week, product]
    extra = np.array([v[2] for v in CATEGORIES.values()])[catalog.cat[product]]
    quantity = 1 + rng.poisson(extra + 4 * off)
    price = np.round(catalog.price[product] * (1 - off), 2)
    return pd.DataFrame({"order": order, "product": product, "quantity": quantity, "unit_price": price})


def _promotions(n_weeks: int, n_products: int, rng: np.random.Generator) -> np.ndarray:
    """Discount per (week, product): about 4% of product-weeks are on promotion at 10-40% off."""
    on = rng.random((n_weeks, n_products)) < 0.04
    return np.where(on, rng.choice([0.1, 0.15, 0.2, 0.25, 0.3, 0.4], size=on.shape), 0.0)


def _returns(w: _World, tx: pd.DataFrame) -> pd.DataFrame:
    """A small share of lines comes back days later as its own "R" order with negative quantity."""
    catalog, rng = w.catalog, w.rngs["returns"]
    product = tx["product"].to_numpy()
    apparel = catalog.frame["category"].to_numpy()[product] == "apparel"
    p = 0.015 + 0.03 * (catalog.quality[product] < -0.8) + 0.05 * apparel
    back = tx[rng.random(len(tx)) < p].copy()
    back["ts"] = back["ts"] + pd.to_timedelta(rng.uniform(1, 30, len(back)) * 86400, unit="s").round("s")
    back = back[back["ts"] < w.end].sort_values("ts", kind="stable")
    back["quantity"] = -(1 + np.floor(rng.random(len(back)) * back["quantity"].to_numpy())).astype(np.int64)
    back["order_id"] = _ids("R", len(back), 7)
    back["okey"] = np.iinfo(np.int64).max // 2 + np.arange(len(back))  # after sales at the same instant
    return back


def _reviews(w: _World, tx: pd.DataFrame, returned: np.ndarray) -> pd.DataFrame:
    """Reviews of bought products: rating from quality, taste fit and returns; wording from the rating."""
    pop, catalog, rng = w.pop, w.catalog, w.rngs["reviews"]
    bought = tx[tx["customer_id"].notna().to_numpy() & (rng.random(len(tx)) < 0.04)].copy()
    bought["returned"] = returned[bought.index]
    bought = bought.drop_duplicates(["cust", "product"])
    cust, product = bought["cust"].to_numpy(), bought["product"].to_numpy()
    fit = pop.taste[cust, catalog.cat[product]] * pop.taste.shape[1] - 1
    latent = (
        0.9
        + 0.8 * catalog.quality[product]
        + 0.25 * np.clip(fit, -1, 3)
        - 1.5 * bought["returned"].to_numpy()
        + rng.normal(0, 0.8, len(bought))
    )
    rating = 1 + np.searchsorted([-1.2, -0.5, 0.3, 1.0], latent)
    tone = np.where(rating >= 4, 2, np.where(rating == 3, 1, 0))
    pick = rng.integers(0, 5, (2, len(bought)))
    halves = np.array([[t.split("{}") for t in tone_openings] for tone_openings in OPENINGS], dtype=object)
    remark = np.array(REMARKS, dtype=object)[tone, pick[1]]
    text = halves[tone, pick[0], 0] + catalog.noun[product] + halves[tone, pick[0], 1] + " " + remark
    ts = bought["ts"] + pd.to_timedelta(rng.uniform(1, 21, len(bought)) * 86400, unit="s").round("s")
    out = pd.DataFrame(
        {
            "customer_id": bought["customer_id"].to_numpy(),
            "product_id": bought["product_id"].to_numpy(),
            "ts": ts.to_numpy(),
            "rating": rating.astype(np.int64),
            "text": text,
        }
    )
    out = out[out["ts"] < w.end].sort_values("ts", kind="stable").reset_index(drop=True)
    out.insert(0, "review_id", _ids("V", len(out), 6))
    return out


def _inventory(w: _World, tx: pd.DataFrame) -> pd.DataFrame:
    """Quarterly snapshots per store x product: a shelf minimum plus weeks of cover, 5% out of stock."""
    rng, days, n_shops, n_products = w.rngs["inventory"], w.days, len(w.stores), len(w.catalog.price)
    sold = np.zeros((n_shops, n_products))
    np.add.at(sold, (tx["store"].to_numpy(), tx["product"].to_numpy()), tx["quantity"].to_numpy())
    snaps = np.arange(days - 1, -1, -91)[::-1]
    shape = (len(snaps), n_shops, n_products)
    cover = rng.uniform(5, 35, shape)
    on_hand = rng.poisson(sold[None] / max(days, 1) * cover) + rng.integers(2, 12, shape)  # shelf minimum
    on_hand[rng.random(shape) < 0.05] = 0
    s, st, p = np.indices(shape).reshape(3, -1)
    return pd.DataFrame(
        {
            "store_id": w.stores["store_id"].to_numpy()[st],
            "product_id": w.catalog.frame["product_id"].to_numpy()[p],
            "on_hand": on_hand.ravel().astype(np.int64),
            "ts": w.start + pd.to_timedelta(snaps[s] * 86400 + 22 * 3600, unit="s"),
        }
    )


def _window(end: str, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    end_ts = pd.Timestamp(end)
    if end_ts.tz is not None:
        end_ts = end_ts.tz_convert("UTC").tz_localize(None)
    end_ts = end_ts.normalize()
    return end_ts - pd.Timedelta(days=days), end_ts


def _world(n_customers: int, days: int, seed: int, end: str, n_products: int, n_stores: int) -> _World:
    if n_customers < 1 or days < 1 or n_products < 1 or n_stores < 0:
        raise ValueError("need n_customers, days, n_products >= 1 and n_stores >= 0")
    rngs = _rngs(seed)
    start, end_ts = _window(end, days)
    catalog = _catalog(n_products, rngs["catalog"])
    stores = _stores(n_stores)
    pop = _population(n_customers, days, start, int(catalog.cat.max()) + 1, stores, rngs["customers"])
    return _World(rngs, catalog, stores, pop, start, end_ts, days)


def simulate(
    n_customers: int = 10_000,
    days: int = 730,
    seed: int = 0,
    end: str = "2026-06-30",
    n_products: int = 400,
    n_stores: int = 5,
) -> dict[str, pd.DataFrame]:
    """Every table of the raw contract for a simulated retailer; same arguments give identical frames.

    Event timestamps (transactions, reviews, inventory) lie in [end - days, end); `signup_date` can be
    earlier, for customers who joined before the window. "S00" is the online shop; returns are "R" orders.
    """
    w = _world(n_customers, days, seed, end, n_products, n_stores)
    orders = _orders(w)
    lines = _lines(w, orders, _promotions(days // 7 + 1, n_products, w.rngs["promos"]))
    rank = np.empty(len(orders), dtype=np.int64)  # order ids follow time
    rank[np.lexsort((np.arange(len(orders)), orders["seconds"].to_numpy()))] = np.arange(len(orders))
    o, product, store = lines["order"].to_numpy(), lines["product"].to_numpy(), orders["store"].to_numpy()
    customer_ids = w.pop.frame["customer_id"].to_numpy()[orders["cust"].to_numpy()]
    customer_ids[orders["guest"].to_numpy()] = None
    tx = pd.DataFrame(
        {
            "order_id": _ids("O", len(orders), 7)[rank][o],
            "customer_id": customer_ids[o],
            "product_id": w.catalog.frame["product_id"].to_numpy()[product],
            "ts": w.start + pd.to_timedelta(orders["seconds"].to_numpy()[o], unit="s"),
            "quantity": lines["quantity"].to_numpy().astype(np.int64),
            "unit_price": lines["unit_price"].to_numpy(),
            "store_id": w.stores["store_id"].to_numpy()[store[o]],
            "channel": np.where(store[o] == 0, "online", "store").astype(object),
            "cust": orders["cust"].to_numpy()[o],  # internal columns, dropped below
            "product": product,
            "store": store[o],
            "okey": rank[o],
        }
    )
    back = _returns(w, tx)
    returned = np.zeros(len(tx), dtype=bool)
    returned[back.index] = True
    reviews, inventory = _reviews(w, tx, returned), _inventory(w, tx)
    tx = pd.concat([tx, back], ignore_index=True)
    tx = tx.iloc[np.lexsort((tx["okey"].to_numpy(), tx["ts"].to_numpy()))]
    tx = tx.drop(columns=["cust", "product", "store", "okey"]).reset_index(drop=True)
    log.info("simulated %d transaction lines (%d returns), %d reviews", len(tx), len(back), len(reviews))
    description, attributes = _specifications(w.catalog, w.rngs["specs"])
    return {
        "transactions": tx,
        "products": w.catalog.frame.assign(description=description),
        "product_attributes": attributes,
        "customers": w.pop.frame.copy(),
        "stores": w.stores.copy(),
        "reviews": reviews,
        "inventory": inventory,
    }


def ground_truth(
    n_customers: int = 10_000,
    days: int = 730,
    seed: int = 0,
    end: str = "2026-06-30",
    n_products: int = 400,
    n_stores: int = 5,
) -> dict[str, pd.DataFrame]:
    """The latent facts behind `simulate` with the same arguments, for known-answer tests of the models.

    `complements`: product_id -> complement_id (bought together or next). `customers`: churn_date (NaT when
    the customer is still active at the end of the window), orders_per_year, favourite_category.
    """
    w = _world(n_customers, days, seed, end, n_products, n_stores)
    ids, partner = w.catalog.frame["product_id"].to_numpy(), w.catalog.complement
    customers = w.pop.frame[["customer_id"]].copy()
    churn_date = w.start + pd.to_timedelta(w.pop.end_day, unit="D")
    customers["churn_date"] = pd.Series(churn_date).where(w.pop.end_day < days).to_numpy()
    customers["orders_per_year"] = w.pop.rate
    customers["favourite_category"] = np.array(list(CATEGORIES), dtype=object)[w.pop.taste.argmax(axis=1)]
    complements = pd.DataFrame({"product_id": ids[partner >= 0], "complement_id": ids[partner[partner >= 0]]})
    return {"complements": complements, "customers": customers}
