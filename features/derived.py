"""What the contract derives when a data set lacks it: stores, products and customers from the transactions.

Only `transactions` is required (ARCHITECTURE.md, "Raw data contract"). A plain order-line export has no store
column: every line is then an online sale at the one online store, so per-store features and the order API's
stores exist for it as they do for the UCI import. Products and customers lacking a table of their own get one
row per id the transactions name (a product named by its id). Optional columns stay absent: each consumer
chooses its own default (a missing category reads as "unknown"), so the raw tables never claim more than the
user gave. `MissingInput` is the error for an input a step genuinely needs: it names the table or column and
how to provide it, never a bare key.
"""

from __future__ import annotations

import logging

import pandas as pd

log = logging.getLogger(__name__)

ONLINE_STORE = "S00"
ONLINE_STORE_FALLBACK = "ONLINE"  # when a user's own physical store is called S00
ONLINE_STORE_NAME = "Online shop"
UNKNOWN = "unknown"  # the value of a missing category or tier, wherever one is shown or grouped by


class MissingInput(FileNotFoundError):
    """An input a step needs is not in the workspace; the message says what it is and how to provide it.

    A FileNotFoundError, so every `retail` command reports it as one `error:` line like a missing file.
    """

    def __init__(self, what: str, needed_for: str, provide: str) -> None:
        self.what, self.needed_for, self.provide = what, needed_for, provide
        super().__init__(f"{needed_for} needs {what}, which this workspace does not have: {provide}")


def online_store_id(stores: pd.DataFrame | None) -> str:
    """The store a line without a store is sold at: the stores table's online store, else S00."""
    if stores is None or stores.empty:
        return ONLINE_STORE
    online = stores.loc[stores["kind"] == "online", "store_id"] if "kind" in stores else pd.Series(dtype=object)
    if len(online):
        return str(online.iloc[0])
    return ONLINE_STORE_FALLBACK if ONLINE_STORE in set(stores["store_id"]) else ONLINE_STORE


def has_stores(tx: pd.DataFrame) -> bool:
    """Whether the transactions say where anything was sold (a store column with at least one value)."""
    return "store_id" in tx.columns and bool(tx["store_id"].notna().any())


def with_store(tx: pd.DataFrame, stores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Transactions with a `store_id`; without stores in the lines (see `has_stores`) all are online sales.

    They are sold at the online store (`online_store_id`), and a missing `channel` column becomes "online".
    Lines whose store is merely missing in a store column others fill are left as they are (no store).
    """
    if has_stores(tx):
        return tx
    out = tx.assign(store_id=online_store_id(stores))
    if "channel" not in out.columns:
        out["channel"] = "online"
    return out


def stores_from(tx: pd.DataFrame, online: str | None = None) -> pd.DataFrame:
    """A stores table for the store ids the transactions name, each named by its id.

    A store is `online` when it is the derived online store `online`, or when a `channel` column says every
    line sold there was online; any other store is a `store`.
    """
    if "store_id" not in tx.columns:
        return pd.DataFrame({"store_id": [], "name": [], "kind": []}, dtype=object)
    sold = tx[tx["store_id"].notna()]
    ids = sorted({str(s) for s in sold["store_id"]})
    web = {online} if online is not None else set()
    if "channel" in sold.columns:
        share = (sold["channel"] == "online").groupby(sold["store_id"].astype(str)).all()
        web |= set(share[share].index)
    return pd.DataFrame(
        {
            "store_id": ids,
            "name": [ONLINE_STORE_NAME if s == online else s for s in ids],
            "kind": ["online" if s in web else "store" for s in ids],
        },
        dtype=object,
    )


def products_from(tx: pd.DataFrame) -> pd.DataFrame:
    """One product per id the transactions name, named by its id."""
    ids = pd.unique(tx["product_id"].astype(str))
    return pd.DataFrame({"product_id": ids, "name": ids}, dtype=object)


def customers_from(tx: pd.DataFrame) -> pd.DataFrame:
    """One customer per id the transactions name (guest lines name none)."""
    return pd.DataFrame({"customer_id": pd.unique(tx["customer_id"].dropna().astype(str))}, dtype=object)


def complete(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """`tables` with a store on every transaction line (see `with_store`) and the derivable tables it lacks.

    A given stores table that lacks the derived online store gains it, so every line's store exists.
    """
    out = dict(tables)
    tx = out["transactions"]
    derived: list[str] = []
    store = None
    if not has_stores(tx):
        store = online_store_id(out.get("stores"))
        out["transactions"] = tx = with_store(tx, out.get("stores"))
        derived.append(f"store_id (no stores in the transactions: every line is an online sale at {store})")
        if "stores" in out and store not in set(out["stores"]["store_id"]):
            out["stores"] = pd.concat([out["stores"], stores_from(tx.head(1), store)], ignore_index=True)
            derived.append(f"store {store} added to stores")
    makers = {
        "stores": lambda: stores_from(tx, store),
        "products": lambda: products_from(tx),
        "customers": lambda: customers_from(tx),
    }
    for name, make in makers.items():
        if name not in out:
            out[name] = make()
            derived.append(f"{name} ({len(out[name]):,} rows)")
    if derived:
        log.info("derived from the transactions: %s", "; ".join(derived))
    return out
