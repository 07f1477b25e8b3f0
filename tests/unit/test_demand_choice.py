"""The demand method choice's rule: lowest backtest WAPE per group, ties to the simpler method, small groups merged,
unseen series by their group, and never above seasonal naive on the backtest."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from training.demand import choice


def _rows(errors: dict[str, dict[str, float]], periods: int = 8, seed: int = 0) -> pd.DataFrame:
    """Backtest rows: per series, truth around 10 and each method off by its given mean absolute error."""
    rng = np.random.default_rng(seed)
    parts = []
    for uid, by_method in errors.items():
        y = 10.0 + rng.normal(0, 1, periods)
        signs = rng.choice([-1.0, 1.0], periods)
        frame = pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=periods), "y": y})
        for method in choice.SINGLE:
            frame[method] = y + signs * by_method.get(method, 5.0)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _groups(labels: dict[str, str]) -> pd.Series:
    return pd.Series(labels, name="group")


def test_a_group_where_autoets_wins_gets_autoets_and_another_keeps_lightgbm() -> None:
    ets = {f"e{i}": {"auto_ets": 1.0, "lightgbm": 3.0, "seasonal_naive": 4.0} for i in range(12)}
    gbm = {f"g{i}": {"auto_ets": 3.0, "lightgbm": 1.0, "seasonal_naive": 4.0} for i in range(12)}
    rows = _rows(ets | gbm)
    labels = _groups({u: "smooth" for u in ets} | {u: "lumpy" for u in gbm})
    table, chosen = choice.choose(rows, labels)
    assert chosen["smooth"] == "auto_ets"
    assert chosen["lumpy"] == "lightgbm"
    assert set(table["group"]) == {"smooth", "lumpy", "all"}
    assert table.set_index("group").loc["smooth", "series"] == 12


def test_a_tie_goes_to_seasonal_naive_then_the_simpler_method() -> None:
    same = {f"s{i}": {m: 2.0 for m in choice.SINGLE} for i in range(12)}
    _, chosen = choice.choose(_rows(same), _groups({u: "smooth" for u in same}))
    assert chosen["smooth"] == "seasonal_naive"
    scores = pd.Series({name: 0.5 for name in choice.CANDIDATES})
    scores["seasonal_naive"] = 0.6
    assert choice.pick(scores) == "moving_average"
    scores["lightgbm"] = 0.5 - 1e-12  # within rounding: still a tie
    assert choice.pick(scores) == "moving_average"
    scores["lightgbm"] = 0.4
    assert choice.pick(scores) == "lightgbm"


def test_a_blend_is_chosen_when_the_errors_cancel() -> None:
    rows = _rows({f"b{i}": {} for i in range(12)})
    rows["lightgbm"] = rows["y"] + 2.0  # too high
    rows["auto_ets"] = rows["y"] - 2.0  # too low by as much: the mean is exact
    _, chosen = choice.choose(rows, _groups({f"b{i}": "smooth" for i in range(12)}))
    assert chosen["smooth"] == "lightgbm+auto_ets"


def test_a_small_group_decides_with_the_largest_and_is_labelled_so() -> None:
    big = {f"g{i}": {"lightgbm": 1.0, "auto_ets": 3.0} for i in range(12)}
    small = {f"e{i}": {"lightgbm": 3.0, "auto_ets": 1.0} for i in range(3)}  # AutoETS wins, on 3 series only
    labels = _groups({u: "smooth" for u in big} | {u: "lumpy" for u in small})
    table, chosen = choice.choose(_rows(big | small), labels, min_series=10)
    assert chosen["lumpy"] == chosen["smooth"] == "lightgbm"
    merged = table.set_index("group").loc["smooth (+lumpy)"]
    assert merged["series"] == 15
    assert merged["lightgbm"] <= merged["seasonal_naive"]


def test_every_group_and_the_total_are_never_above_seasonal_naive() -> None:
    rng = np.random.default_rng(4)
    errors = {f"s{i}": {m: float(rng.uniform(0.5, 6.0)) for m in choice.SINGLE} for i in range(60)}
    labels = _groups({f"s{i}": str(rng.choice(["smooth", "erratic", "lumpy", "intermittent"])) for i in range(60)})
    rows = _rows(errors, seed=4)
    table, chosen = choice.choose(rows, labels, min_series=8)
    for _, row in table.iterrows():
        assert row[row["chosen"]] <= row["seasonal_naive"]
    per_series = rows["unique_id"].map(labels).map(chosen)
    chosen_error = sum(
        np.abs(part["y"] - choice.blend(part, str(method))).sum() for method, part in rows.groupby(per_series)
    )
    assert chosen_error <= np.abs(rows["y"] - rows["seasonal_naive"]).sum()


def test_demand_classes_follow_adi_and_cv2() -> None:
    days = pd.date_range("2024-01-01", periods=40)
    series = {
        "steady": np.full(40, 5.0),
        "spiky": np.tile([1.0, 20.0], 20),
        "rare": np.where(np.arange(40) % 5 == 0, 4.0, 0.0),
        "rare_spiky": np.where(np.arange(40) % 5 == 0, np.tile([1.0, 30.0], 20), 0.0),
        "never": np.zeros(40),
    }
    history = pd.concat([pd.DataFrame({"unique_id": u, "ds": days, "y": y}) for u, y in series.items()])
    classes = choice.demand_class(history)
    assert classes.to_dict() == {
        "never": "intermittent",
        "rare": "intermittent",
        "rare_spiky": "lumpy",
        "spiky": "erratic",
        "steady": "smooth",
    }


def test_series_the_fit_never_saw_get_their_group_s_choice_else_the_overall_one() -> None:
    chosen = choice.Chosen(
        forecaster=cast(Any, None),
        methods={"a": "lightgbm"},
        group_methods={"smooth": "auto_ets", "all": "lightgbm+seasonal_naive"},
        by="class",
        table=pd.DataFrame(),
    )
    days = pd.date_range("2024-01-01", periods=20)
    history = pd.concat(
        [
            pd.DataFrame({"unique_id": "a", "ds": days, "y": 5.0}),
            pd.DataFrame({"unique_id": "new_smooth", "ds": days, "y": 5.0}),
            pd.DataFrame({"unique_id": "new_rare", "ds": days, "y": np.where(np.arange(20) % 4 == 0, 3.0, 0.0)}),
        ]
    )
    assert chosen.method_of(history).to_dict() == {
        "a": "lightgbm",
        "new_smooth": "auto_ets",
        "new_rare": "lightgbm+seasonal_naive",
    }


def test_a_baseline_statsforecast_cannot_fit_is_left_out_of_the_choice() -> None:
    months = pd.date_range("2024-01-01", periods=5, freq="MS")
    y = [[10.0, 14.0, 9.0, 13.0, 11.0], [3.0, 0.0, 5.0, 2.0, 4.0], [20.0, 25.0, 18.0, 30.0, 22.0]]
    history = pd.concat([pd.DataFrame({"unique_id": f"m{i}", "ds": months, "y": y[i]}) for i in range(3)])
    base = choice.safe_baselines(history, 2, "MS")  # AutoETS refuses five months
    assert len(base) == 3 * 2 and base["auto_ets"].isna().all()
    assert (base["mean_28"] > 0).all() and base["seasonal_naive"].notna().all()
    rows = _rows({f"s{i}": {"auto_ets": 0.1, "lightgbm": 1.0} for i in range(12)})
    rows["auto_ets"] = np.nan
    _, chosen = choice.choose(rows, _groups({f"s{i}": "smooth" for i in range(12)}))
    assert chosen["smooth"] == "lightgbm"


def test_a_group_that_sold_nothing_in_the_backtest_takes_the_smallest_error() -> None:
    rows = _rows({f"z{i}": {} for i in range(12)})
    rows["y"] = 0.0
    for method, level in {"seasonal_naive": 2.0, "moving_average": 1.0, "auto_ets": 3.0, "lightgbm": 0.0}.items():
        rows[method] = level
    table, chosen = choice.choose(rows, _groups({f"z{i}": "intermittent" for i in range(12)}))
    assert chosen["intermittent"] == "lightgbm"
    assert table.set_index("group").loc["intermittent", list(choice.CANDIDATES)].isna().all()  # no WAPE to show


def test_autoets_with_a_long_season_is_left_out_beyond_its_series_budget() -> None:
    many = choice.ETS_LONG_SEASON_SERIES + 1
    assert choice.ets_affordable("D", 100_000, 700)  # a 7-day season fits quickly
    assert choice.ets_affordable("W-MON", choice.ETS_LONG_SEASON_SERIES, 200)
    assert not choice.ets_affordable("W-FRI", many, 104)  # two years of weeks: a 52-week season
    assert choice.ets_affordable("W-FRI", many, 103)  # shorter: AutoETS fits no season, quickly
    weeks = pd.date_range("2024-01-05", periods=60, freq="W-FRI")
    history = pd.concat([pd.DataFrame({"unique_id": f"w{i}", "ds": weeks, "y": 5.0 + i % 3}) for i in range(3)])
    base = choice.safe_baselines(history, 4, "W-FRI", ets=False)
    assert base["auto_ets"].isna().all() and base["seasonal_naive"].notna().all() and len(base) == 3 * 4


def test_forecasts_fit_autoets_only_for_series_that_chose_it(monkeypatch: Any) -> None:
    asked: list[bool] = []
    real = choice.safe_baselines

    def spy(history: pd.DataFrame, horizon: int, freq: str, ets: bool = True) -> pd.DataFrame:
        asked.append(ets)
        return real(history, horizon, freq, ets=ets)

    monkeypatch.setattr(choice, "safe_baselines", spy)
    spec = cast(Any, type("S", (), {"freq": "W-FRI"}))
    chosen = choice.Chosen(cast(Any, type("F", (), {"spec": spec})), {}, {"all": "lightgbm"}, "class", pd.DataFrame())
    weeks = pd.date_range("2024-01-05", periods=60, freq="W-FRI")
    history = pd.concat([pd.DataFrame({"unique_id": f"w{i}", "ds": weeks, "y": 5.0 + i}) for i in range(3)])
    chosen._baselines(history, 4, set())  # noqa: SLF001
    with_ets = chosen._baselines(history, 4, {"auto_ets"})  # noqa: SLF001
    assert asked == [False, True] and with_ets["auto_ets"].notna().all()
