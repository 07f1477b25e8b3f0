"""Which demand method each series gets: the caller's own backtest decides, never worse than seasonal naive.

The rule (documented in docs/models/demand.md):
- Backtest: the LightGBM forecaster's own interval backtest (`Forecaster.backtest`, the last
  `spec.interval_windows` horizons before the end of the training data) and, from the same cutoffs, seasonal naive,
  the moving average (`mean_28` of `baselines.py`) and AutoETS.
- Groups: each series' demand class by Syntetos-Boylan (ADI = periods per period with a sale, CV^2 of the sizes
  sold; cut at 1.32 and 0.49): smooth, erratic, intermittent, lumpy; or its `category` with `by="category"`.
  A group with fewer than `min_series` series in the backtest is merged into the largest group, which decides for
  both on their rows together.
- Choice: per group, the candidate with the lowest backtest WAPE (absolute error where nothing sold) among the
  single methods and the equal blends of LightGBM with each baseline; a tie (within 1e-9) goes to the earlier of
  `CANDIDATES`, seasonal naive first.
  Seasonal naive is a candidate, so no group's backtest WAPE is above seasonal naive's, and neither is the total.
- Series the fit never saw get their class's (or category's) choice, else the choice over every series (`all`).
- Quantiles: LightGBM's and AutoETS's own; seasonal naive and moving average take the LightGBM interval models'
  P10/P90 around their own P50; a blend averages its two methods' P10, P50 and P90.
- Planned covariates (`future`, `price_ratio`): LightGBM reads them, the baselines do not. The backtest scores
  LightGBM with the covariates as they were, so a group keeps a baseline only where it wins knowing that.
- A baseline statsforecast cannot fit (AutoETS on a few periods: "tiny datasets") is left out of the choice, and
  so is AutoETS with a season above 24 periods (weeks) beyond 200 series: there it costs 1-3 s a series and cutoff.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.demand import frequency, model
from training.demand.baselines import baseline_forecasts
from training.demand.dataset import Spec

log = logging.getLogger(__name__)
SINGLE = ("seasonal_naive", "moving_average", "auto_ets", "lightgbm")
BLENDS = {f"lightgbm+{m}": ("lightgbm", m) for m in SINGLE[:3]}
CANDIDATES = (*SINGLE, *BLENDS)  # tie-break order: the earlier wins
YARDSTICK = "seasonal_naive"
BASELINE_COLUMNS = {"seasonal_naive": "seasonal_naive", "moving_average": "mean_28", "auto_ets": "auto_ets"}
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
ADI_CUT, CV2_CUT = 1.32, 0.49
MIN_SERIES = 10
ETS_LONG_SEASON_SERIES = 200
TIE = 1e-9
OVERALL = "all"


def demand_class(history: pd.DataFrame) -> pd.Series:
    """Per `unique_id`, its Syntetos-Boylan class from its history (a series that never sold is intermittent)."""
    y = history["y"].to_numpy()
    ids = history["unique_id"].astype(str).to_numpy()
    frame = pd.DataFrame({"unique_id": ids, "y": y, "sold": y > 0})
    frame["started"] = frame.groupby("unique_id")["sold"].cummax()  # periods before the first sale do not count
    live = frame[frame["started"]]
    stats = live.groupby("unique_id").agg(periods=("y", "size"), sales=("sold", "sum"))
    sizes = live[live["sold"]].groupby("unique_id")["y"].agg(["mean", "std"])
    adi = stats["periods"] / stats["sales"].where(stats["sales"] > 0)
    cv2 = (sizes["std"].fillna(0.0) / sizes["mean"]) ** 2
    classes = pd.Series("intermittent", index=pd.Index(sorted(set(ids)), name="unique_id"))
    adi, cv2 = adi.reindex(classes.index), cv2.reindex(classes.index)
    frequent, steady = adi < ADI_CUT, cv2 < CV2_CUT
    classes[frequent & steady] = "smooth"
    classes[frequent & ~steady & cv2.notna()] = "erratic"
    classes[~frequent & adi.notna() & ~steady & cv2.notna()] = "lumpy"
    return classes.rename("group")


def groups(history: pd.DataFrame, by: str = "class") -> pd.Series:
    """Per `unique_id`, the group it is chosen with: its demand class, or its category with `by="category"`."""
    if by == "class":
        return demand_class(history)
    if by == "category":
        if "category" not in history:
            raise ValueError("by='category' needs a category column in the history")
        first = history.drop_duplicates("unique_id")
        return pd.Series(first["category"].astype(str).to_numpy(), index=first["unique_id"].astype(str), name="group")
    raise ValueError(f"group series by 'class' or 'category', got {by!r}")


def errors(rows: pd.DataFrame) -> pd.Series:
    """Backtest absolute error (summed) of every candidate over `rows` (truth `y`, one column per single method);
    NaN for a candidate with a missing forecast."""
    y = rows["y"].to_numpy()
    return pd.Series({name: float(np.abs(y - blend(rows, name)).sum()) for name in CANDIDATES})


def wapes(rows: pd.DataFrame) -> pd.Series:
    """Backtest WAPE of every candidate over `rows` (NaN where nothing sold)."""
    total = float(np.abs(rows["y"]).sum())
    return errors(rows) / total if total > 0 else errors(rows) * np.nan


def blend(rows: pd.DataFrame, name: str, column: str = "") -> np.ndarray:
    parts = BLENDS.get(name, (name,))
    return np.mean([rows[f"{p}{column}"].to_numpy(dtype="float64") for p in parts], axis=0)


def pick(scores: pd.Series) -> str:
    """The candidate with the lowest error (or WAPE: within a group they rank alike); a tie within `TIE` (relative)
    goes to the earlier in `CANDIDATES`."""
    if scores.isna().all():
        return YARDSTICK
    best = float(scores.min())
    return next(name for name in CANDIDATES if scores[name] <= best + TIE * max(1.0, best))


def choose(
    rows: pd.DataFrame, group_of: pd.Series, min_series: int = MIN_SERIES
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The backtest table (one row per decision group and `all`: series, each candidate's WAPE, the choice) and the
    choice per group label (merged small groups included)."""
    labels = rows["unique_id"].map(group_of).fillna("unknown")
    sizes = rows.assign(group=labels).groupby("group")["unique_id"].nunique()
    large = sizes[sizes >= min_series]
    target = str(large.idxmax() if len(large) else sizes.idxmax()) if len(sizes) else OVERALL
    unit = labels.where(labels.isin(large.index), target)  # small groups decide together with the largest
    table, chosen = [], {}
    for name, part in rows.groupby(unit.to_numpy()):
        scores = wapes(part)
        chosen[str(name)] = pick(errors(part))  # (a group that sold nothing in the backtest still has errors)
        merged = sorted(set(labels[part.index]) - {name})
        label = str(name) + (f" (+{', '.join(merged)})" if merged else "")
        table.append({"group": label, "series": part["unique_id"].nunique(), **scores, "chosen": chosen[str(name)]})
    for small in set(labels) - set(chosen):
        chosen[str(small)] = chosen[target]
    scores = wapes(rows)
    chosen[OVERALL] = pick(errors(rows))
    table.append({"group": OVERALL, "series": rows["unique_id"].nunique(), **scores, "chosen": chosen[OVERALL]})
    return pd.DataFrame(table), chosen


class BaselineCache:
    """Baseline forecasts from a cutoff, kept per series and what it sold up to the cutoff: the evaluation's
    origins and the choice's backtest windows share cutoffs, so AutoETS fits each (series, cutoff) once."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.frames: OrderedDict[tuple[pd.Timestamp, int, str, bool], pd.DataFrame] = OrderedDict()

    def forecasts(self, past: pd.DataFrame, horizon: int, freq: str, ets: bool = True) -> pd.DataFrame:
        """`safe_baselines(past, horizon, freq, ets)`, fitting only series not already forecast from this past."""
        key = (pd.Timestamp(past["ds"].max()), horizon, freq, ets)
        sig = _signature(past)
        kept = self.frames.get(key, pd.DataFrame(columns=["unique_id", "sig"]))
        known = kept[kept["unique_id"].map(sig) == kept["sig"]] if len(kept) else kept
        todo = sorted(set(sig.index) - set(known["unique_id"]))
        if todo:
            fresh = safe_baselines(past[past["unique_id"].isin(todo)], horizon, freq, ets)
            fresh["sig"] = fresh["unique_id"].map(sig)
            known = pd.concat([known, fresh], ignore_index=True) if len(known) else fresh
        self.frames[key] = known
        self.frames.move_to_end(key)
        while len(self.frames) > self.size:
            self.frames.popitem(last=False)
        return known[known["unique_id"].isin(sig.index)].drop(columns="sig").reset_index(drop=True)


def safe_baselines(history: pd.DataFrame, horizon: int, freq: str, ets: bool = True) -> pd.DataFrame:
    """`baseline_forecasts`; without `ets`, or where statsforecast refuses the history (AutoETS on a few periods),
    the baselines but AutoETS, which is missing (NaN: left out of the choice)."""
    if ets:
        try:
            return baseline_forecasts(history, horizon, freq)
        # statsforecast's AutoETS raises NotImplementedError ("tiny datasets") or ValueError on too few periods
        except (NotImplementedError, ValueError) as error:
            log.warning("baselines: AutoETS left out (%s)", error)
    return baseline_forecasts(history, horizon, freq, ets=False)


def _signature(past: pd.DataFrame) -> pd.Series:
    """Per `unique_id`, a hash of its `(ds, y)` rows."""
    hashed = pd.util.hash_pandas_object(past[["ds", "y"]], index=False).to_numpy()
    return pd.Series(hashed, index=past.index).groupby(past["unique_id"].to_numpy()).sum()


CACHE = BaselineCache()


def baselines_at(history: pd.DataFrame, horizon: int, freq: str, ets: bool = True) -> pd.DataFrame:
    """Every baseline's forecast for `horizon` periods after `history` (through the shared `CACHE`); AutoETS NaN
    with `ets=False`."""
    return CACHE.forecasts(history[["unique_id", "ds", "y"]], horizon, freq, ets)


def ets_affordable(freq: str, series: int, shortest: int) -> bool:
    """Whether the choice backtests AutoETS: always, but with a season above 24 periods (weeks: 52) that it fits
    (every series two seasons long) only for up to `ETS_LONG_SEASON_SERIES` series (statsforecast takes one to three
    seconds a series there)."""
    season = frequency.season(freq)
    return season <= 24 or shortest < 2 * season or series <= ETS_LONG_SEASON_SERIES


@dataclass
class Chosen:
    """The fitted LightGBM forecaster plus the method each series (and group) got; forecasts like a `Forecaster`."""

    forecaster: model.Forecaster
    methods: dict[str, str]  # unique_id -> method
    group_methods: dict[str, str]  # group label -> method (`all`: the choice over every series)
    by: str
    table: pd.DataFrame

    @property
    def spec(self) -> Spec:
        return self.forecaster.spec

    @property
    def usual(self) -> dict[str, float]:
        """The covariates LightGBM reads, each with its usual value."""
        return self.forecaster.usual

    def counts(self) -> dict[str, int]:
        """Series per method, among the series the fit chose for."""
        found = pd.Series(list(self.methods.values()), dtype="object").value_counts()
        return {str(k): int(v) for k, v in found.items()}

    def method_of(self, history: pd.DataFrame) -> pd.Series:
        """Per `unique_id` of `history`: its own choice, else its group's, else the overall one."""
        ids = pd.Index(history["unique_id"].astype(str).unique(), name="unique_id")
        own = pd.Series(ids.map(self.methods), index=ids, dtype="object")
        missing = own.isna()
        if missing.any():
            part = history[history["unique_id"].astype(str).isin(ids[missing.to_numpy()])]
            labels = groups(part.assign(unique_id=part["unique_id"].astype(str)), self.by)
            fallback = labels.map(self.group_methods).fillna(self.group_methods[OVERALL])
            own[missing] = fallback.reindex(own.index[missing]).fillna(self.group_methods[OVERALL])
        return own.rename("method")

    def forecast_all(
        self,
        history: pd.DataFrame,
        horizon: int | None = None,
        price_ratio: float = 1.0,
        future: pd.DataFrame | None = None,
        extra: tuple[str, ...] = (),
    ) -> pd.DataFrame:
        """`unique_id, ds, method, p10, p50, p90` (the chosen forecast) plus `<m>, <m>_p10, <m>_p90` for each
        method the series' choices need and each of `extra`."""
        h = horizon or self.spec.horizon
        method = self.method_of(history)
        needed = set(extra) | {p for m in set(method) for p in BLENDS.get(m, (m,))}
        lgbm = self.forecaster.forecast(history, h, price_ratio, future)
        out = lgbm.rename(columns={"p50": "lightgbm", "p10": "lightgbm_p10", "p90": "lightgbm_p90"})
        baselines = sorted((needed - {"lightgbm"}) & set(BASELINE_COLUMNS))
        if baselines:
            out = out.merge(self._baselines(history, h, set(baselines)), on=["unique_id", "ds"], how="left")
        out["method"] = out["unique_id"].map(method)
        for q in ("p10", "p50", "p90"):
            out[q] = np.nan
            column = "" if q == "p50" else f"_{q}"
            for name in out["method"].unique():
                at = (out["method"] == name).to_numpy()
                out.loc[at, q] = blend(out.loc[at], name, column)
        out["p10"] = np.minimum(out["p10"], out["p50"]).clip(lower=0.0)
        out["p90"] = np.maximum(out["p90"], out["p50"])
        return out

    def forecast(
        self,
        history: pd.DataFrame,
        horizon: int | None = None,
        price_ratio: float = 1.0,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """`unique_id, ds, p10, p50, p90`: each series forecast by its chosen method."""
        out = self.forecast_all(history, horizon, price_ratio, future)
        return out[["unique_id", "ds", "p10", "p50", "p90"]]

    def _baselines(self, history: pd.DataFrame, h: int, needed: set[str]) -> pd.DataFrame:
        """Each needed baseline's P50 and P10/P90 (AutoETS its own band, the others the LightGBM interval models)."""
        data = history[["unique_id", "ds", "y"]].assign(unique_id=history["unique_id"].astype(str))
        base = safe_baselines(data, h, self.spec.freq, ets="auto_ets" in needed)  # AutoETS only where chosen
        out = base[["unique_id", "ds"]].copy()
        for name in sorted(needed & set(BASELINE_COLUMNS)):
            out[name] = base[BASELINE_COLUMNS[name]].to_numpy()
            if name == "auto_ets":
                out["auto_ets_p10"], out["auto_ets_p90"] = base["auto_ets_p10"], base["auto_ets_p90"]
                continue
            rows = model._band_rows(  # noqa: SLF001  the model's own band inputs, around this method's P50
                out[["unique_id", "ds"]].assign(p50=out[name]), data, model._scale_periods(self.spec)
            )
            out[f"{name}_p10"], out[f"{name}_p90"] = self.forecaster.intervals.apply(rows)
        return out


def backtest_rows(history: pd.DataFrame, forecaster: model.Forecaster, progress: Callable[[str], None]) -> pd.DataFrame:
    """The forecaster's backtest with every baseline's forecast from the same cutoffs: `unique_id, ds, cutoff, y`
    and one column per single method (AutoETS NaN where `ets_affordable` says no)."""
    if forecaster.backtest is None:
        raise ValueError("the forecaster carries no backtest: fit it with training.demand.model.fit")
    bt = forecaster.backtest.rename(columns={"lgbm": "lightgbm"})
    bt = bt.assign(unique_id=bt["unique_id"].astype(str), lightgbm=bt["lightgbm"].clip(lower=0.0))
    data = history[["unique_id", "ds", "y"]].assign(unique_id=history["unique_id"].astype(str))
    h, parts = forecaster.spec.horizon, []
    first = bt.groupby("unique_id")["cutoff"].min()
    shortest = int((data["ds"] <= data["unique_id"].map(first)).groupby(data["unique_id"]).sum().min())
    ets = ets_affordable(forecaster.spec.freq, len(first), shortest)
    if not ets:
        progress(
            f"demand: AutoETS left out of the choice: a {frequency.season(forecaster.spec.freq)}-period season "
            f"on more than {ETS_LONG_SEASON_SERIES} series costs seconds a series"
        )
    for cutoff, rows in bt.groupby("cutoff"):
        progress(f"demand: backtest of the baselines from {pd.Timestamp(cutoff):%Y-%m-%d}")
        ids = set(rows["unique_id"])
        past = data[data["unique_id"].isin(ids) & (data["ds"] <= cutoff)]
        base = baselines_at(past, h, forecaster.spec.freq, ets)
        base = base.rename(columns={v: k for k, v in BASELINE_COLUMNS.items()})[["unique_id", "ds", *BASELINE_COLUMNS]]
        parts.append(rows.merge(base, on=["unique_id", "ds"], how="left"))
    return pd.concat(parts, ignore_index=True).fillna({"seasonal_naive": 0.0, "moving_average": 0.0})


def fit(
    history: pd.DataFrame,
    spec: Spec,
    seed: int = 0,
    by: str = "class",
    min_series: int = MIN_SERIES,
    progress: Callable[[str], None] = log.info,
) -> Chosen:
    """Fit LightGBM, backtest it against the baselines on its own backtest windows and choose per group."""
    forecaster = model.fit(history, spec, seed)
    rows = backtest_rows(history, forecaster, progress)
    group_of = groups(history.assign(unique_id=history["unique_id"].astype(str)), by)
    table, chosen = choose(rows, group_of, min_series)
    seen = rows["unique_id"].drop_duplicates()
    methods = {str(u): chosen.get(str(group_of.get(u, OVERALL)), chosen[OVERALL]) for u in seen}
    result = Chosen(replace(forecaster, backtest=None), methods, chosen, by, table)
    counts = ", ".join(f"{m} {n:,}" for m, n in sorted(result.counts().items(), key=lambda kv: -kv[1]))
    progress(f"demand: backtest chose per {by} group: {counts} series")
    return result


def describe(table: pd.DataFrame) -> str:
    """The backtest table as text: one line per group, WAPE per candidate, the choice."""
    return table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
