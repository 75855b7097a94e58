"""arenabrain: Forecaster Arena and CreditBrain in one asynchronous service."""

__version__ = "0.1.0"
