"""Review and feedback sentiment: a MiniLM classifier fine-tuned from packaged weights."""
