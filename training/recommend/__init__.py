"""Recommender: candidate sources (implicit ALS/BPR, co-purchase, repeat, popularity), then a reranker.

Stage modules (the family skeleton): `dataset` (interactions from transactions), `model` (`Recommender`, the answer
to a request), `baselines`, `evaluate` (recall/NDCG per mode on a held-out period; metrics in `metrics`), `pyfunc`,
`adapter` (what the endpoint calls), `batch` (the one batch path), `cli`, `options` (its defaults), `family`.
Behind them: `candidates` (the first stage), `pairs/` (the ranker's candidate features), `side_features`,
`columns` (feature names), `label_frames` and `rerank` (the rankers), `guard` (the per-mode policy against the
baselines), `ranking` (allowed products, ranked lists, fill and reasons for a block of rows), `products`, `compare`.
"""

MODEL_NAME = "recommender"
