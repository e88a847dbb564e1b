package dev.slmedge.profiler.core;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Map;
import java.util.TreeMap;

/**
 * The names the host and the app must agree on: a mirror of slm_edge/contract.py
 * (tests/test_android_core.py compares the two, both ways).
 */
public final class Contract {
    public static final String PACKAGE = "dev.slmedge.profiler";
    public static final String INSTRUMENTATION = PACKAGE + "/.ProfilerInstrumentation";
    public static final String ACTIVITY = PACKAGE + "/.ProfileActivity";

    public static final String DEVICE_ROOT = "/data/local/tmp/slm-edge";
    public static final String APP_FILES = "/sdcard/Android/data/" + PACKAGE + "/files";

    public static final String EXTRA_CONFIG = "config";
    public static final String EXTRA_RUN_ID = "run_id";
    /** `-e query identity`: the instrumentation answers RESULT_IDENTITY and runs nothing. */
    public static final String EXTRA_QUERY = "query";
    public static final String QUERY_IDENTITY = "identity";
    /** The first app version that answers the query (app/build.gradle.kts appVersionCode). */
    public static final int MIN_IDENTITY_VERSION_CODE = 2;
    /** app/build.gradle.kts minSdk: Android 10 (PowerManager.getCurrentThermalStatus). */
    public static final int MIN_SDK = 29;

    public static final String APP_INFO_ASSET = "assets/slm-edge-app.json";
    public static final int MIN_APP_VERSION_CODE = 2; // the first app that answers the identity query

    public static final String STATUS_PREFIX = "slm-edge-status";

    /** Files of an artifact folder and a run folder. */
    public static final String MANIFEST = "manifest.json";
    public static final String RUN_CONFIG_FILE = "run_config.json";
    public static final String TRACE_FILE = "trace.json";

    public static final String TRACE_SCHEMA = "slm-edge/trace";
    public static final String CONFIG_SCHEMA = "slm-edge/run-config";
    public static final int TRACE_SCHEMA_VERSION = 1;
    public static final int CONFIG_SCHEMA_VERSION = 1;

    /** Keys of the INSTRUMENTATION_RESULT block the host parses (slm_edge/device/instrument.py). */
    public static final String RESULT_STATUS = "status";
    public static final String RESULT_TRACE = "trace";
    public static final String RESULT_TRACE_SHA256 = "trace_sha256";
    public static final String RESULT_ERROR = "error";
    /** The APP_INFO_ASSET's JSON on one line, the answer to `-e query identity`. */
    public static final String RESULT_IDENTITY = "identity";
    /** Activity.RESULT_OK when the trace is complete, 0 otherwise. */
    public static final int CODE_COMPLETE = -1;
    public static final int CODE_NOT_COMPLETE = 0;

    private Contract() {}

    /** Where the app writes a run's trace (its external files dir, readable by `adb pull`). */
    public static String traceDir(String runId) {
        return APP_FILES + "/runs/" + runId;
    }

    /** Every constant by name, for the test that compares them with the Python side. */
    public static Map<String, Object> constants() {
        Map<String, Object> out = new TreeMap<>();
        for (Field field : Contract.class.getDeclaredFields()) {
            int modifiers = field.getModifiers();
            if (Modifier.isPublic(modifiers) && Modifier.isStatic(modifiers) && Modifier.isFinal(modifiers)) {
                try {
                    out.put(field.getName(), field.get(null));
                } catch (IllegalAccessException impossible) {
                    throw new AssertionError(impossible);
                }
            }
        }
        return out;
    }
}
