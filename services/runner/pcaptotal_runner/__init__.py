"""PcapTotal."""
