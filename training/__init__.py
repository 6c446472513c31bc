"""Losses, the on-policy data pipeline and the preference-optimisation trainer."""
