"""Readers 'csv' and 'csv_dict': CSV inputs as rows (lists of str) or dicts."""

__version__ = "0.6.0"
