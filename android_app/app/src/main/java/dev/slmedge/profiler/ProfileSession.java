package dev.slmedge.profiler;

import android.content.Context;
import android.os.Bundle;
import android.os.PowerManager;
import dev.slmedge.profiler.core.ConfigException;
import dev.slmedge.profiler.core.Contract;
import dev.slmedge.profiler.core.EngineFactory;
import dev.slmedge.profiler.core.ProfileLoop;
import dev.slmedge.profiler.core.RunConfig;
import dev.slmedge.profiler.core.StatusListener;
import java.io.File;
import java.io.IOException;

/**
 * One profiling run from the launch extras (config, run_id) to the result the host parses: shared
 * by the instrumentation (scripted runs) and the activity (manual runs).
 */
final class ProfileSession {
    /** The result block and code, as slm_edge/contract.py describes them. */
    record Result(int code, Bundle bundle) {}

    /**
     * The runtimes this APK links (ExecuTorch, onnxruntime-android), looked up by name so that the
     * session, the activity and the instrumentation compile without the ExecuTorch AAR (the build
     * check in android_app/android-check compiles them against real jars only). The Gradle build
     * compiles the class itself; the release build is not minified, so the name stays.
     */
    static final String APP_ENGINES = "dev.slmedge.profiler.AndroidEngineFactory";

    /** The run's wake lock tag ("app:what", as PowerManager.newWakeLock's documentation asks). */
    static final String WAKE_LOCK_TAG = "slm-edge:profile";
    /** A run's wake lock lasts this long beyond the waits its config allows (a generous bound, not a target). */
    static final long WAKE_LOCK_BASE_MS = 4L * 60 * 60 * 1000;

    private ProfileSession() {}

    /** The APK's engines; a one-line failure when this build has none (a check build). */
    static EngineFactory appEngines() throws ReflectiveOperationException {
        return (EngineFactory) Class.forName(APP_ENGINES).getDeclaredConstructor().newInstance();
    }

    /** A run with this APK's engines and identity (the activity's manual runs). */
    static Result run(Context context, Bundle extras, StatusListener listener) {
        EngineFactory engines;
        try {
            engines = appEngines();
        } catch (ReflectiveOperationException | LinkageError e) {
            return failed("this build has no engines (" + APP_ENGINES + ": " + e + "); install the release APK");
        }
        return run(context, extras, listener, engines, AppIdentity.readOrUnknown(AppIdentity.assets(context)));
    }

    static Result run(Context context, Bundle extras, StatusListener listener, EngineFactory engines,
                      AppIdentity identity) {
        String configPath = extras == null ? null : extras.getString(Contract.EXTRA_CONFIG);
        String runId = extras == null ? null : extras.getString(Contract.EXTRA_RUN_ID);
        if (configPath == null || runId == null) {
            return failed("missing extras: pass -e " + Contract.EXTRA_CONFIG + " <run_config.json> -e "
                    + Contract.EXTRA_RUN_ID + " <id>");
        }
        if (!runId.matches("[A-Za-z0-9._-]+") || runId.startsWith(".")) {
            return failed("run_id " + runId + " is not a plain name (letters, digits, . _ -)");
        }
        File externalFiles = context.getExternalFilesDir(null);
        if (externalFiles == null) {
            return failed("the app's external files folder is unavailable (shared storage not mounted?)");
        }
        try {
            // The path as the app's own mount namespace resolves it (/storage/emulated/<user>/...
            // on a phone): the host canonicalises its side and compares (slm_edge/contract.py).
            externalFiles = externalFiles.getCanonicalFile();
        } catch (IOException e) {
            return failed("cannot resolve the app's external files folder " + externalFiles + ": " + e.getMessage());
        }
        File configFile = new File(configPath);
        RunConfig config;
        try {
            config = RunConfig.read(configFile);
        } catch (ConfigException e) {
            return failed(e.getMessage());
        }
        File traceDir = new File(externalFiles, "runs/" + runId);
        AndroidPlatform platform = new AndroidPlatform(context, identity);
        ProfileLoop.Outcome outcome;
        PowerManager.WakeLock wakeLock = acquireWakeLock(context, config);
        try {
            outcome = new ProfileLoop(config, configFile, traceDir, engines, platform, listener).run();
        } finally {
            if (wakeLock != null && wakeLock.isHeld()) {
                wakeLock.release();
            }
        }
        Bundle bundle = new Bundle();
        bundle.putString(Contract.RESULT_STATUS, outcome.status());
        bundle.putString(Contract.RESULT_TRACE, outcome.trace().getAbsolutePath());
        if (outcome.sha256() != null) {
            bundle.putString(Contract.RESULT_TRACE_SHA256, outcome.sha256());
        }
        if (outcome.error() != null) {
            bundle.putString(Contract.RESULT_ERROR, oneLine(outcome.error()));
        }
        return new Result(outcome.complete() ? Contract.CODE_COMPLETE : Contract.CODE_NOT_COMPLETE, bundle);
    }

    /**
     * A partial wake lock for the whole run: a detached run (the host starts the instrumentation without -w,
     * the user unplugs the phone and its screen goes off) must not let the CPU suspend mid-measurement.
     * PowerManager.PARTIAL_WAKE_LOCK "ensures that the CPU is running; the screen and keyboard backlight will
     * be allowed to go off", and a timed acquire(long) releases itself if a run hangs
     * (https://developer.android.com/reference/android/os/PowerManager#PARTIAL_WAKE_LOCK,
     * https://developer.android.com/reference/android/os/PowerManager.WakeLock#acquire(long)). Needs
     * android.permission.WAKE_LOCK (a normal permission, granted at install: AndroidManifest.xml). Not
     * reference counted, so the release after a timeout that already fired is harmless. Null where the
     * framework gives no PowerManager (the run goes on without).
     */
    static PowerManager.WakeLock acquireWakeLock(Context context, RunConfig config) {
        PowerManager power = context.getSystemService(PowerManager.class);
        if (power == null) {
            return null;
        }
        PowerManager.WakeLock lock = power.newWakeLock(PowerManager.PARTIAL_WAKE_LOCK, WAKE_LOCK_TAG);
        lock.setReferenceCounted(false);
        lock.acquire(wakeLockTimeoutMs(config));
        return lock;
    }

    /**
     * How long the wake lock may be held: WAKE_LOCK_BASE_MS for loads and measurements, plus every wait the
     * config allows (unplug_wait's max_wait_s and settle_s, a sustained run's sustained_s, the cool-down's
     * max_wait_s before each measured repeat).
     */
    static long wakeLockTimeoutMs(RunConfig config) {
        double seconds = 0;
        if (config.unplugWait != null) {
            seconds += config.unplugWait.maxWaitS() + config.unplugWait.settleS();
        }
        if (config.sustainedS != null) {
            seconds += config.sustainedS;
        }
        if (config.cooldown != null) {
            int prompts = Math.max(config.promptLengths.size(), 1); // eval: none
            int gates = config.sustained() ? 1 : config.threads.size() * prompts * Math.max(config.repeats, 1);
            seconds += config.cooldown.maxWaitS() * gates;
        }
        return WAKE_LOCK_BASE_MS + Math.round(seconds * 1000);
    }

    /** `-e query identity`: the identity asset on one line, nothing run, code -1. */
    static Result identity(AppIdentity.Source asset) {
        try {
            Bundle bundle = new Bundle();
            bundle.putString(Contract.RESULT_IDENTITY, AppIdentity.read(asset).oneLine());
            return new Result(Contract.CODE_COMPLETE, bundle);
        } catch (IOException e) {
            return failed("cannot read " + Contract.APP_INFO_ASSET + ": " + e.getMessage() + " (rebuild the APK)");
        }
    }

    static Result failed(String error) {
        Bundle bundle = new Bundle();
        bundle.putString(Contract.RESULT_STATUS, "failed");
        bundle.putString(Contract.RESULT_ERROR, oneLine(error));
        return new Result(Contract.CODE_NOT_COMPLETE, bundle);
    }

    /** `am instrument -r` prints one key=value per line: a newline would split the message. */
    static String oneLine(String text) {
        return text.replace('\n', ' ').replace('\r', ' ');
    }
}
