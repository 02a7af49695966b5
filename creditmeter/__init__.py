"""creditmeter: usage metering and usage export for API platforms that bill in credits."""

__version__ = "0.1.0"

__all__ = ["__version__"]
