"""Shared wiring for the retail ML service: settings, workspace layout, logging and the CLI."""
