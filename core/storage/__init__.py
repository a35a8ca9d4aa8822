"""The DuckDB store: its schema and writes (store.py) and every query the lab reads with
(queries.py)."""
