"""Champion/challenger promotion and rollback, the same for every family.

Each family says how champion and challenger are scored on one evaluation (`Family.compare`) and which metric
decides (`primary_metric`, `higher_is_better`). A version that lost to one of its own baselines is not promoted
without `--force`. Promotion and rollback move the `champion` alias and record why as version tags.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from mlflow import MlflowClient

from training import families, tracking

log = logging.getLogger(__name__)


@dataclass
class Decision:
    promoted: bool
    champion: str
    challenger: str | None
    champion_score: float | None = None
    challenger_score: float | None = None
    reason: str = ""
    metric: str = ""


def comparison(client: MlflowClient, model: str, champion: str | None = None, challenger: str | None = None):
    """The family's table of champion and challenger (default: the aliased versions) on one evaluation."""
    family = families.family(model)
    champion = champion or tracking.alias_version(client, model, tracking.CHAMPION)
    challenger = challenger or tracking.alias_version(client, model, tracking.CHALLENGER)
    if champion is None or challenger is None:
        missing = "@champion" if champion is None else "@challenger"
        raise ValueError(f"{model} has no {missing} to compare: train a new version first")
    return family.compare(client, str(champion), str(challenger))


def promote(client: MlflowClient, model: str, force: bool = False) -> Decision:
    """Move @champion to @challenger if it scores better on the same evaluation (or with force)."""
    family = families.family(model)
    champion = tracking.alias_version(client, model, tracking.CHAMPION)
    challenger = tracking.alias_version(client, model, tracking.CHALLENGER)
    if challenger is None:
        if champion is None:
            raise ValueError(f"{model} has no registered versions: train one first")
        return Decision(False, champion, None, reason="no @challenger to compare; train a new version first")
    lost = client.get_model_version(model, challenger).tags.get(tracking.BASELINE_TAG, "")
    if lost and not force:
        reason = f"v{challenger} lost to a baseline on its evaluation ({lost}); promote with --force to override"
        tracking.tag_version(client, model, challenger, promotion="refused: " + reason)
        return Decision(False, champion or "none", challenger, reason=reason, metric=family.primary_metric)
    if champion is None or force:
        reason = "forced" if force else "no champion yet"
        tracking.move_champion(client, model, challenger, reason, forced=str(force).lower())
        return Decision(True, challenger, None, reason=reason)
    table = family.compare(client, champion, challenger)
    metric = family.primary_metric
    champ, chall = float(table.loc["champion", metric]), float(table.loc["challenger", metric])
    log.info(
        "%s on v%s's evaluation: champion v%s %s %.4f, challenger %.4f",
        model,
        challenger,
        champion,
        metric,
        champ,
        chall,
    )
    better = chall > champ if family.higher_is_better else chall < champ
    if better:
        scores = {"champion_score": f"{champ:.4f}", "challenger_score": f"{chall:.4f}"}
        tracking.move_champion(client, model, challenger, "beat champion", **scores)
        return Decision(True, challenger, None, champ, chall, "challenger beat champion", metric)
    return Decision(False, champion, challenger, champ, chall, "challenger did not beat champion", metric)


def rollback(client: MlflowClient, model: str) -> Decision:
    """Move @champion back to the version it replaced (recorded at promotion); repeated calls go further back."""
    families.entry(model)
    champion = tracking.alias_version(client, model, tracking.CHAMPION)
    if champion is None:
        raise ValueError(f"{model} has no @champion to roll back")
    previous = client.get_model_version(model, champion).tags.get("replaced_version")
    if not previous:
        raise ValueError(f"{model} v{champion} replaced no earlier champion: there is nothing to roll back to")
    client.set_registered_model_alias(model, tracking.CHAMPION, previous)
    when = f"{pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M:%S} UTC"
    tracking.tag_version(client, model, champion, rolled_back=f"replaced by v{previous} at {when}")
    tracking.tag_version(client, model, previous, promotion=f"rollback from v{champion} at {when}")
    log.info("%s: @champion rolled back from v%s to v%s", model, champion, previous)
    return Decision(True, previous, None, reason=f"rolled back from v{champion}")
