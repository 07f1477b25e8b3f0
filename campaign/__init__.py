"""Campaigns for marketing: every customer scored for churn, value, tier, next-best offer and a discount."""
