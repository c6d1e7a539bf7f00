"""Benchmarking: hardware ceilings (`ceilings`) for MFU and the roofline; latency harness elsewhere here."""
