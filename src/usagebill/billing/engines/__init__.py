"""Engines that sum usage events into a usage cube: pure Python, DuckDB, Dask."""
