"""One endpoint module per model family (a `router`), composed by serving.service through the family registry."""
