"""The campaign's scoring as an MLflow `spark_udf` in a local SparkSession, checked against `retail campaign build`.

    .venv/bin/pip install -e ".[spark]"            # pyspark (needs Java 17+); not part of the default install
    .venv/bin/python benchmarks/campaign_spark.py --workspace /tmp/demo [--customers 2000]

Builds the campaign the usual way (`build_campaign`, as `retail campaign build` does), logs `CampaignModel` (the
same scoring as one pyfunc, with today's champions, stock and prices) to the workspace's `campaign` experiment,
then scores a sample of the same customers with `mlflow.pyfunc.spark_udf` over a Spark DataFrame of the pyfunc's
input columns (`local[2]`), and compares the two row by row. Prints the comparison; exits 1 if the rows differ.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer


def main(
    workspace: Annotated[Path, typer.Option(help="A workspace with churn and recommender champions.")] = Path("."),
    customers: Annotated[int, typer.Option(help="Customers to score in Spark (a sample of the campaign).")] = 2000,
    partitions: Annotated[int, typer.Option(help="Spark partitions of the input.")] = 4,
) -> None:
    import mlflow
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import col, struct

    from campaign.build import build_campaign, campaign_inputs
    from campaign.pyfunc import INPUT_COLUMNS, log_campaign_model, model_input, spark_result_type
    from retail import logs
    from retail.settings import get_settings
    from retail.workspace import Workspace
    from serving.commerce.discounts import CampaignPolicy
    from training.recommend.batch import load_recommender

    logs.configure()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers run in this environment
    ws = Workspace.at(workspace)
    settings = get_settings(workspace=ws.root)
    started = time.perf_counter()
    reference = build_campaign(ws, settings, workers=1).frame
    print(f"retail campaign build: {len(reference):,} customers in {time.perf_counter() - started:.1f}s")

    as_of = pd.Timestamp(ws.read_meta()["features_as_of"]).floor("D")
    uri = log_campaign_model(ws, settings, as_of)
    print(f"logged CampaignModel: {uri}")

    products = load_recommender(ws, settings)[0].product_ids
    inputs = campaign_inputs(ws, as_of, CampaignPolicy(), products, {})
    frame = model_input(inputs.features, inputs.values, inputs.bought, products)
    frame = frame.sample(min(customers, len(frame)), random_state=0).reset_index(drop=True)

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("campaign")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        started = time.perf_counter()
        udf = mlflow.pyfunc.spark_udf(spark, uri, result_type=spark_result_type(), env_manager="local")
        data = spark.createDataFrame(frame).repartition(partitions)
        scored = data.withColumn("c", udf(struct(*[col(c) for c in INPUT_COLUMNS]))).select("c.*").toPandas()
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    print(f"spark_udf (local[2], {partitions} partitions): {len(scored):,} customers in {seconds:.1f}s")
    sys.exit(0 if _compare(scored, reference) else 1)


def _compare(scored: pd.DataFrame, reference: pd.DataFrame) -> bool:
    """Same customers, same bands, offers and discounts; probabilities and values within float noise."""
    both = scored.merge(reference, on="customer_id", suffixes=("_spark", "_cli"), validate="one_to_one")
    numbers = ["churn_probability", "lifetime_value", "value_at_risk", "offer_score", "discount_pct", "expected_value"]
    labels = ["risk_band", "loyalty_tier", "offer_product_id", "offer_mode", "offer_reason", "discount_reason"]
    ok = len(both) == len(scored)
    print(f"\n{len(both):,} of {len(scored):,} Spark rows matched a campaign row by customer_id")
    for c in labels:
        same = (both[f"{c}_spark"].fillna("") == both[f"{c}_cli"].fillna("")).mean()
        ok &= same == 1.0
        print(f"  {c:<18} equal in {same:7.2%} of rows")
    for c in numbers:
        diff = np.nanmax(np.abs(both[f"{c}_spark"].astype(float) - both[f"{c}_cli"].astype(float)).to_numpy())
        ok &= bool(diff < 1e-6) or np.isnan(diff)
        print(f"  {c:<18} max |difference| {diff:.2e}")
    print("\nsame rows as `retail campaign build`" if ok else "\nrows differ")
    return ok


if __name__ == "__main__":
    typer.run(main)
