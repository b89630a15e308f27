"""Streamlit app over the results DuckDB (reads only the store's schema)."""
