"""Readers and writers for the file formats the seed samples use."""
