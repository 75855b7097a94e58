"""Forecaster Arena: language models paper-trading Polymarket in weekly cohorts."""
