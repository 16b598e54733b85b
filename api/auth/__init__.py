"""Who is calling: API keys, JWT access and refresh tokens, and the per-request guard."""
