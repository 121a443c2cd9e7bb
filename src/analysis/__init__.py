"""Self-efficacy analysis suite."""
__version__ = "0.1.0"
