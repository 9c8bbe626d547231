"""Synthetic documents for tests, the demo's sample photos and benchmarks: rendered Vietnamese pages with
known text and line boxes (``page``), and camera frames built from them (``camera``)."""
