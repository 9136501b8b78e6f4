"""Reports across samples and precisions: comparisons, plots, summaries."""
