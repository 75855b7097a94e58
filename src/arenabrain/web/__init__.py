"""The HTTP edge shared by both domains: errors, auth, rate limits, access logs, health."""
