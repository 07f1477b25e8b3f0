"""The Feast feature repository: definitions here, rendered into each workspace's feature_repo/."""
