"""Datasets: embedded defaults that need no network, and real sources behind checksums."""
