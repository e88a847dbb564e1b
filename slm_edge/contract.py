"""The contract between the stages, and between the host, the profiler app (android_app/) and the
emulated adb device: file names, schema versions, status prefix, app package and launch protocol.
Imports nothing, so every stage (and the device-side runner) can use it.

One place for the names both sides must agree on. The Java side mirrors these constants in
android_app/core/src/main/java/dev/slmedge/profiler/core/Contract.java (a test compares them).

Launch (blocking, scriptable):
    am instrument -w -r -e config <DEVICE_ROOT>/runs/<id>/run_config.json -e run_id <id> <INSTRUMENTATION>
While it runs the app streams `INSTRUMENTATION_STATUS: phase=<load|warmup|prefill|decode|ops|...>`
(plus `run=<index>`, `threads=<n>`) lines, each block closed by `INSTRUMENTATION_STATUS_CODE: 1`.
It ends with `INSTRUMENTATION_RESULT: status=<complete|incomplete|failed>`, `trace=<device path>`,
`trace_sha256=<hex>` and, on failure, `error=<one line>`; then `INSTRUMENTATION_CODE: -1`
(Activity.RESULT_OK) when the trace is complete, 0 otherwise. A crash shows as
`INSTRUMENTATION_RESULT: shortMsg=Process crashed.` and a missing app as `INSTRUMENTATION_FAILED:`.
The run config's artifact.dir is relative to the config file, as on Linux.
"""

PACKAGE = "dev.slmedge.profiler"
INSTRUMENTATION = f"{PACKAGE}/.ProfilerInstrumentation"
ACTIVITY = f"{PACKAGE}/.ProfileActivity"

# The shell user can write here and apps can read here (SELinux allows it); apps cannot write here.
DEVICE_ROOT = "/data/local/tmp/slm-edge"
# The app's external files dir as the shell sees it for user 0: the app writes traces there and
# `adb pull` reads it without root. The app itself reports getExternalFilesDir(null), i.e.
# /storage/emulated/<user>/Android/data/<pkg>/files (/sdcard is a symlink to user 0's): the host
# compares the two after canonicalising both on the device (safe_paths.check_device_path).
APP_FILES = f"/sdcard/Android/data/{PACKAGE}/files"

EXTRA_CONFIG = "config"
EXTRA_RUN_ID = "run_id"
# `am instrument -w -r -e query identity <INSTRUMENTATION>` answers
# `INSTRUMENTATION_RESULT: identity=<the APK's APP_INFO_ASSET as one-line JSON>`, code -1; apps
# from this version code on (older ones have no query and would start a run).
EXTRA_QUERY = "query"
QUERY_IDENTITY = "identity"
MIN_IDENTITY_VERSION_CODE = 2
# The app's minSdk (android_app/app/build.gradle.kts): Android 10.
MIN_SDK = 29


def trace_dir(run_id: str) -> str:
    return f"{APP_FILES}/runs/{run_id}"


# The APK carries its identity as an asset so the host can read it before installing (and the
# emulated device's `pm install` uses the same file): {"package", "version_name", "version_code",
# "trace_schema_version", "abis", "runtimes": {"executorch", "onnxruntime"},
# "features": {"executorch_etdump", "onnx_shared_kv", "eval_mode", "unplug_wait", "thread_cores", "cpu_affinity"}}
# (eval_mode: the run config's mode eval; unplug_wait: that run config key; thread_cores: cpu samples say
# where the threads ran; cpu_affinity: the run config's cpus, the whole process pinned).
APP_INFO_ASSET = "assets/slm-edge-app.json"
# The oldest app whose traces this host reads.
MIN_APP_VERSION_CODE = 2  # the first app that answers the identity query

STATUS_PREFIX = "slm-edge-status"

# Keys of the INSTRUMENTATION_RESULT block the app ends with, and its result codes.
RESULT_STATUS = "status"
RESULT_TRACE = "trace"
RESULT_TRACE_SHA256 = "trace_sha256"
RESULT_ERROR = "error"
RESULT_IDENTITY = "identity"  # the answer to `-e query identity`: the APP_INFO_ASSET's JSON on one line
CODE_COMPLETE = -1  # Activity.RESULT_OK: the trace is complete
CODE_NOT_COMPLETE = 0  # the Linux runner's progress lines: `slm-edge-status phase=load threads=2`


# --- files: an artifact folder (export) and a run folder (profile) -----------------------------------
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "slm-edge/manifest"
MANIFEST_SCHEMA_VERSION = 1
VERIFY_FILE = "verify.json"  # written beside the manifest by `slm-edge verify`
EVAL_FILE = "eval.json"  # beside the manifest: `slm-edge eval`'s figures, keyed by corpus and settings
ETRECORD_FILE = "etrecord.bin"  # beside model.pte: maps ETDump events to graph nodes for `profile --ops`
RUN_CONFIG_FILE = "run_config.json"
TRACE_FILE = "trace.json"

# --- schema names and versions ------------------------------------------------------------------------------
TRACE_SCHEMA = "slm-edge/trace"
CONFIG_SCHEMA = "slm-edge/run-config"
TRACE_SCHEMA_VERSION = 1
# The oldest trace version this host still reads (the app on a phone may lag behind the host).
MIN_TRACE_SCHEMA_VERSION = 1
CONFIG_SCHEMA_VERSION = 1

# --- per-op breakdown vocabulary (the trace's ops sections) -----------------------------------------
OP_CATEGORIES = ("embedding", "attention", "ffn", "norm", "lm_head", "other")
ET_OP_CATEGORIES = OP_CATEGORIES + ("mixed",)  # mixed: one XNNPACK block whose nodes span categories
ONNX_SCOPE_KEY = "pkg.torch.onnx.name_scopes"  # torch.onnx's module path of each node (export writes, runner reads)

# Names only the host uses; every other str/int constant above is mirrored by the app's Contract.java.
HOST_ONLY = frozenset({"MANIFEST_SCHEMA", "MANIFEST_SCHEMA_VERSION", "VERIFY_FILE", "EVAL_FILE", "ETRECORD_FILE",
                       "MIN_TRACE_SCHEMA_VERSION", "ONNX_SCOPE_KEY"})
