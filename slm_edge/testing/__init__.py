"""Test support: an emulated Android device that real `adb` and adbutils talk to (adbd.py and the
Android shell commands in android_commands/), the classes that run it beside a private adb server
(harness.py), and the pytest fixtures that provide them (pytest_plugin.py)."""
