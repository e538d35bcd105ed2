"""The studio's HTTP side: the OpenAI-compatible Videos API at /v1 (and the studio API at /api)."""
