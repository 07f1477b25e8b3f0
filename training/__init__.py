"""Model training: one module per model family plus what they share (splits, metrics, tracking, tuning)."""
