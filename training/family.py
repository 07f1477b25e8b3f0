"""The model-family interface: everything shared code (runner, CLI, promotion, comparison, service) needs of a family.

A family is a folder under `training/` with a `family.py` defining one `Family` subclass and a `cli.py` with its
`train` and `predict` commands, plus one entry in `training/families.py` and one endpoint module in
`serving/endpoints/`. Shared code iterates the registry and never names a family.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # annotations only: the families' options (and so `retail --help`) load without mlflow or pandas
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.pyfunc import PythonModel

    from retail.settings import Settings
    from retail.workspace import Workspace


class Options(BaseModel):
    """A family's training options; each family subclasses it with its own fields."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    def params(self) -> dict[str, Any]:
        """What the training run logs of these options (as `option_<name>` params)."""
        return self.model_dump()


@dataclass(frozen=True)
class Split:
    """One fit's time split: training labels end by `train_end`; evaluation rows come from `[train_end, test_end)`.

    The evaluation fit has `train_end = T - H` and `test_end = T`; the refit has `train_end = T` and no test.
    """

    train_end: pd.Timestamp
    horizon: pd.Timedelta
    test_end: pd.Timestamp | None = None


@dataclass
class Context:
    """What every stage may read: the workspace, settings, the transactions before `as_of`, progress."""

    ws: Workspace
    settings: Settings
    as_of: pd.Timestamp
    tx: pd.DataFrame
    progress: Callable[[str], None]


@dataclass
class Dataset:
    """A family's training rows (and evaluation rows for the evaluation fit), in whatever shape it needs."""

    split: Split
    train: Any
    test: Any = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    """Model and baseline metrics on the same rows, the rows themselves (for later comparisons), plots."""

    metrics: dict[str, float]
    eval_set: pd.DataFrame
    figures: dict[str, Any] = field(default_factory=dict)  # artifact path -> matplotlib figure


@dataclass
class Packaged:
    """The refitted model as MLflow logs it."""

    python_model: PythonModel
    signature: ModelSignature
    input_example: Any
    metrics: dict[str, float] = field(default_factory=dict)  # the refit's own figures, logged as refit_*
    params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> local path the pyfunc carries


A = TypeVar("A")  # a family's adapter type


@dataclass(frozen=True)
class FamilyKey(Generic[A]):
    """A family's registered name, typed with its adapter: `Runtime.adapter(KEY)` returns that adapter's type.

    Each family's `adapter.py` defines its `KEY` (e.g. `KEY: FamilyKey[ChurnAdapter] = FamilyKey("churn")`), so an
    endpoint's calls on the adapter it is handed are checked by mypy while shared code names no family.
    """

    name: str


class Family(ABC, Generic[A]):
    """One model family, generic in its adapter type. Class attributes describe it; methods are its stages."""

    name: ClassVar[str]  # the registered model name
    feature_service: ClassVar[str]
    primary_metric: ClassVar[str]  # a column of `compare`, and `model_<metric>` among the run's metrics
    higher_is_better: ClassVar[bool] = True
    default_horizon_days: ClassVar[int]
    requirements: ClassVar[tuple[str, ...]]  # packages the pyfunc needs; versions come from requirements.lock
    list_columns: ClassVar[dict[str, str]]  # `models list` column title -> run metric
    # (model metric, baseline metric, what it measures): a version that loses any of these is not promoted
    guards: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    options_type: ClassVar[type[Options]] = Options
    # `training.run.train` keyword arguments for a quick fit through the same code paths, on the integration tier's
    # small simulated workspace
    quick: ClassVar[dict[str, Any]] = {}
    # the same for the unit tier's tiny workspace (tests/unit/planted.py), where a fit takes a second or two;
    # empty: `quick`
    tiny: ClassVar[dict[str, Any]] = {}

    @abstractmethod
    def dataset(self, ctx: Context, split: Split, options: Options) -> Dataset:
        """Rows for one fit; nothing at or after `split.test_end` (or `split.train_end` for the refit)."""

    @abstractmethod
    def fit(self, ctx: Context, data: Dataset, options: Options) -> Any:
        """The model on `data.train`."""

    @abstractmethod
    def baselines(self, ctx: Context, data: Dataset) -> Any:
        """The yardsticks, fitted on the same training rows."""

    @abstractmethod
    def evaluate(self, ctx: Context, model: Any, baselines: Any, data: Dataset) -> Evaluation:
        """Model and baselines scored on `data.test`."""

    @abstractmethod
    def package(self, ctx: Context, model: Any, data: Dataset) -> Packaged:
        """The pyfunc carrying its own preprocessing, with signature and input example."""

    @abstractmethod
    def compare(self, client: MlflowClient, champion: str, challenger: str) -> pd.DataFrame:
        """Rows `champion`, `challenger` (and baselines) scored on the challenger's evaluation; metric columns.

        Raises `NotComparable` when no fair common evaluation exists.
        """

    @abstractmethod
    def predict(self, ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
        """Batch scoring with a loaded pyfunc as of `ctx.as_of` (marketing files, forecasts)."""

    @abstractmethod
    def adapter(self, model: Any, version: str, ws: Workspace) -> A:
        """What the family's endpoint module calls; built once per loaded version."""

    def check_inputs(self, ctx: Context, options: Options) -> None:
        """Refuse, before a run is started, a workspace that lacks an input this family needs (default: none).

        Beyond the transactions, that is: raise `features.derived.MissingInput` (see `training.inputs`).
        """
        return None

    def refits(self, options: Options) -> bool:
        """False: register the evaluation fit itself (a model too slow to fit twice); True: refit on everything."""
        return True

    def refit(self, ctx: Context, data: Dataset, options: Options, evaluated: Any) -> Any:
        """The model that is registered, on everything (`data`); `evaluated` is the evaluation fit, whose choices
        (e.g. a per-mode fallback) a family may keep so that what is registered is what was evaluated. Default: `fit`.
        """
        return self.fit(ctx, data, options)

    def baseline_losses(self, metrics: dict[str, float]) -> list[str]:
        """Each guard the evaluation lost, in words (empty: the model beat or matched every baseline)."""
        lost = []
        for ours, theirs, what in self.guards:
            if ours in metrics and theirs in metrics and _worse(metrics[ours], metrics[theirs], self.higher_is_better):
                lost.append(f"{what}: {ours} {metrics[ours]:.4f} < {theirs} {metrics[theirs]:.4f}")
        return lost


class NotComparable(ValueError):
    """Champion and challenger have no fair common evaluation (the champion saw the challenger's test period)."""


def _worse(ours: float, theirs: float, higher_is_better: bool) -> bool:
    return ours < theirs - 1e-9 if higher_is_better else ours > theirs + 1e-9
