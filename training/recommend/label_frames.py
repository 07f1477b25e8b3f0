"""Label frames for the rankers: candidates of each (customer, cart) with their features and what was bought next.

Groups come from two kinds of sessions after a cutoff: a customer's next purchases (no cart), and orders split into
a cart and the rest of the order plus what the buyer took later. Each group records its customer, so a validation
can hold some customers out of training and judge the ranker on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

import numpy as np
import pandas as pd

from training.recommend.candidates import Scored
from training.recommend.dataset import purchases
from training.recommend.metrics import truth_sets
from training.recommend.pairs import Context, candidate_frame
from training.recommend.side_features import SideTables

GUEST = -1  # the owner of a group whose session has no customer


def batches(n: int, size: int) -> list[range]:
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


def with_side(
    features: np.ndarray,
    side: SideTables | None,
    rows: np.ndarray,
    items: np.ndarray,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    customer_rows: np.ndarray | None = None,
) -> np.ndarray:
    if side is None:
        return features
    return np.hstack([features, side.frame(rows, items, customers, carts, customer_rows)])


class Frame(NamedTuple):
    """Ranker rows grouped by session: features, binary labels and candidate product per row; per group its size,
    customer index (GUEST for none) and whether it holds a wanted product (a group without teaches nothing)."""

    features: np.ndarray
    labels: np.ndarray
    items: np.ndarray
    groups: np.ndarray
    owners: np.ndarray
    hits: np.ndarray

    def rows(self, groups: np.ndarray) -> np.ndarray:
        """Row mask of the groups flagged in `groups`."""
        return np.repeat(groups, self.groups)

    def ranked(self, scores: np.ndarray, groups: np.ndarray) -> list[tuple[int, Scored]]:
        """(owner, candidates best first) of each flagged group, given one score per flagged row; ties go to the
        lower product index, as `Reranker.recommend_many` orders them."""
        items = self.items[self.rows(groups)]
        out: list[tuple[int, Scored]] = []
        start = 0
        for owner, size in zip(self.owners[groups], self.groups[groups], strict=True):
            mine, theirs = items[start : start + size], scores[start : start + size]
            order = np.lexsort((mine, -theirs))
            out.append((int(owner), [(int(mine[j]), float(theirs[j])) for j in order]))
            start += size
        return out


def stack(parts: Sequence[tuple[Frame, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and group sizes of the flagged groups of several frames, copied once."""
    masks = [frame.rows(groups) for frame, groups in parts]
    width = parts[0][0].features.shape[1] if parts else 0
    features = np.empty((sum(int(m.sum()) for m in masks), width), dtype=np.float32)
    at = 0
    for (frame, _), mask in zip(parts, masks, strict=True):
        n = int(mask.sum())
        features[at : at + n] = frame.features[mask]
        at += n
    labels = np.concatenate([f.labels[m] for (f, _), m in zip(parts, masks, strict=True)] or [np.zeros(0, np.int32)])
    groups = np.concatenate([f.groups[g] for f, g in parts] or [np.zeros(0, np.int64)])
    return features, labels, groups


def group_frame(
    ctx: Context,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    wanted: Sequence[set[int]],
    new_only: bool,
    batch_size: int,
    side: SideTables | None,
    keep: AbstractSet[int] = frozenset(),
) -> Frame:
    """One group per (customer, cart) with its wanted products.

    Groups whose candidates hold none of the wanted products are left out, unless their customer is in `keep`
    (held-out customers are judged on all their sessions, hit or not).
    """
    parts: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    items_kept: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    hit: list[np.ndarray] = []
    for batch in batches(len(customers), batch_size):
        chosen = [customers[i] for i in batch]
        chosen_carts = [list(carts[i]) for i in batch]
        rows, items, features = candidate_frame(ctx, chosen, chosen_carts, new_only)
        features = with_side(features, side, rows, items, chosen, chosen_carts)
        label = np.array([items[j] in wanted[batch.start + rows[j]] for j in range(len(rows))], dtype=np.int32)
        sizes = np.bincount(rows, minlength=len(chosen))
        hits = np.bincount(rows, weights=label, minlength=len(chosen)) > 0
        owner = np.array([GUEST if c is None else c for c in chosen], dtype=np.int64)
        kept = hits | np.isin(owner, list(keep))
        row_kept = np.repeat(kept, sizes)
        parts.append(features[row_kept])
        labels.append(label[row_kept])
        items_kept.append(items[row_kept].astype(np.int32))
        groups.append(sizes[kept])
        owners.append(owner[kept])
        hit.append(hits[kept])
    if not parts:
        width = len(ctx.feature_names) + (0 if side is None else side.width)
        empty = np.zeros(0, np.int64)
        no_rows = np.zeros(0, np.int32)
        return Frame(np.zeros((0, width), dtype=np.float32), no_rows, no_rows, empty, empty, np.zeros(0, bool))
    return Frame(
        np.vstack(parts),
        np.concatenate(labels),
        np.concatenate(items_kept),
        np.concatenate(groups),
        np.concatenate(owners),
        np.concatenate(hit),
    )


def training_frame(
    ctx: Context,
    label_tx: pd.DataFrame,
    new_only: bool,
    batch_size: int,
    side: SideTables | None = None,
    keep: AbstractSet[int] = frozenset(),
) -> Frame:
    """One group per customer with a purchase after the context's cutoff, no cart: the next purchases."""
    x = ctx.interactions
    truth = truth_sets(x, label_tx, new_only)
    customers: list[int | None] = list(sorted(truth))
    wanted = [{x.product_index[p] for p in truth[c] if p in x.product_index} for c in sorted(truth)]
    return group_frame(ctx, customers, [[] for _ in customers], wanted, new_only, batch_size, side, keep)


def cart_sessions(
    ctx: Context, label_tx: pd.DataFrame, new_only: bool, limit: int, seed: int
) -> tuple[list[int | None], list[list[int]], list[set[int]]]:
    """Orders after the cutoff as carts: part of the order is the cart; the rest of it and what the same buyer
    bought in later orders of the window is what the ranker should find.

    Every other session drops the customer, so the ranker also learns what a guest's cart says.
    """
    x = ctx.interactions
    lines = purchases(label_tx)
    lines = lines[lines["product_id"].isin(x.product_index)]
    lines["p"] = lines["product_id"].map(x.product_index)
    baskets = lines.groupby("order_id", sort=True).agg(
        customer=("customer_id", "first"), ts=("ts", "max"), items=("p", "unique")
    )
    later = _later_purchases(baskets)
    rng = np.random.default_rng(seed)
    chosen = np.arange(len(baskets))
    if len(baskets) > limit:
        chosen = np.sort(rng.choice(len(baskets), size=limit, replace=False))
    customers: list[int | None] = []
    carts: list[list[int]] = []
    wanted: list[set[int]] = []
    for n, position in enumerate(chosen):
        customer_id, _, items = baskets.iloc[position]
        shuffled = rng.permutation(np.sort(items)).tolist()
        size = max(1, min(len(shuffled) // 2, 5))
        cart = sorted(shuffled[:size])
        customer = x.customer_index.get(customer_id) if n % 2 == 0 else None
        rest = (set(shuffled[size:]) | later[position]) - set(cart)
        if new_only and customer is not None:
            rest -= set(x.history(customer).tolist())
        if rest:
            customers.append(customer)
            carts.append(cart)
            wanted.append(rest)
    return customers, carts, wanted


def _later_purchases(baskets: pd.DataFrame) -> list[set[int]]:
    """For each order, the products its customer bought in their later orders (of the same frame)."""
    out: list[set[int]] = [set() for _ in range(len(baskets))]
    order = np.lexsort((np.arange(len(baskets)), baskets["ts"].to_numpy(), baskets["customer"].to_numpy()))
    customers, items = baskets["customer"].to_numpy(), baskets["items"].to_numpy()
    seen: set[int] = set()
    for i in range(len(order) - 1, -1, -1):  # walk each customer's orders newest first
        position = order[i]
        if i == len(order) - 1 or customers[order[i + 1]] != customers[position]:
            seen = set()
        out[position] = set(seen)
        seen |= set(items[position].tolist())
    return out
