"""Android's shell commands on the emulated phone, run inside its sandbox by the small scripts in
/system/bin: getprop, setprop (props.py), pm and `cmd package` (pm.py), dumpsys (dumpsys.py), am
(am.py), logcat and df (logcat_df.py), over the phone's state (state.py). Their output follows
what a phone prints, because the host side parses it.

    python -m slm_edge.testing.android_commands COMMAND ARGS...
"""
