"""slm-edge: export, quantize and profile small language models for phones and edge boards."""

__version__ = "0.1.0"
