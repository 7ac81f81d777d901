"""Parsers, one module per format family. Each takes lines (text feeds) or a decoded JSON
document plus a ``FeedContext`` and yields ``Indicator`` s, reporting into the context's stats."""
