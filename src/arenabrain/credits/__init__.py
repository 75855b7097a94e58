"""CreditBrain: Bags fees to OpenRouter credits for token holders."""
