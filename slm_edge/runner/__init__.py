"""The device side on Linux: the prefill/decode loop the Android app also runs, its samplers and its
per-op profile readers. Imports nothing from the host side (export, device, analysis, report)."""
