"""The arena API's JSON shapes, in the anchor's snake_case: the stored rows the pages show
(`rows`), the admin bodies and answers (`admin`), the cron jobs' answers (`jobs`) and the
public pages (`pages`). Routes declare them, so `/openapi.json` documents every arena shape
and FastAPI checks every answer against its shape."""
