"""Runtimes behind one interface, and scoring that does not know which runtime ran."""
