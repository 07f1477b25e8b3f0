"""The sentiment model: the fine-tuned MiniLM (`classifier`), its CPU runtimes (`bf16`, `int8`) and which one
serves (`runtime`)."""
