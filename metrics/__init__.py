"""Prometheus registry and every metric the bridge and the API export."""
