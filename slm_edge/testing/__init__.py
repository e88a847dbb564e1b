"""Test support: an emulated Android device that real `adb` and adbutils talk to (adbd.py), and
a pytest harness around a private adb server (harness.py)."""
