package dev.slmedge.profiler;

import android.content.Context;
import android.os.Bundle;
import dev.slmedge.profiler.core.ConfigException;
import dev.slmedge.profiler.core.Contract;
import dev.slmedge.profiler.core.ProfileLoop;
import dev.slmedge.profiler.core.RunConfig;
import dev.slmedge.profiler.core.StatusListener;
import java.io.File;

/**
 * One profiling run from the launch extras (config, run_id) to the result the host parses: shared
 * by the instrumentation (scripted runs) and the activity (manual runs).
 */
final class ProfileSession {
    /** The result block and code, as slm_edge/device/android.py describes them. */
    record Result(int code, Bundle bundle) {}

    private ProfileSession() {}

    static Result run(Context context, Bundle extras, StatusListener listener) {
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
        File configFile = new File(configPath);
        RunConfig config;
        try {
            config = RunConfig.read(configFile);
        } catch (ConfigException e) {
            return failed(e.getMessage());
        }
        File traceDir = new File(externalFiles, "runs/" + runId);
        AndroidPlatform platform = new AndroidPlatform(context);
        ProfileLoop.Outcome outcome = new ProfileLoop(config, configFile, traceDir, new AndroidEngineFactory(),
                platform, listener).run();
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

    private static Result failed(String error) {
        Bundle bundle = new Bundle();
        bundle.putString(Contract.RESULT_STATUS, "failed");
        bundle.putString(Contract.RESULT_ERROR, oneLine(error));
        return new Result(Contract.CODE_NOT_COMPLETE, bundle);
    }

    /** `am instrument -r` prints one key=value per line: a newline would split the message. */
    private static String oneLine(String text) {
        return text.replace('\n', ' ').replace('\r', ' ');
    }
}
