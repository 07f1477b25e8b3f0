"""Churn: P(no purchase in the next H days) per customer, LightGBM on point-in-time Feast features."""

MODEL_NAME = "churn"
