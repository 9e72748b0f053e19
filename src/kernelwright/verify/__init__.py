"""Verification: correctness against a float64 reference, integrity probes, timing, verdicts with evidence."""
