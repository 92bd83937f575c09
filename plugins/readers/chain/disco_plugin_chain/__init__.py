"""Reader and writer 'chain': the internal record format (chain_reader, disco_output_stream)."""

__version__ = "0.6.0"
