"""The data side of the service: raw data contract, simulator, importers, transforms and the Feast repo."""
