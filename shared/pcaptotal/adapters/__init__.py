"""Adapters behind the ports: embedded defaults and production servers."""
