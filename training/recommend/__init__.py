"""Recommender: candidate sources (implicit ALS/BPR, co-purchase, repeat, popularity), then a reranker."""

MODEL_NAME = "recommender"
