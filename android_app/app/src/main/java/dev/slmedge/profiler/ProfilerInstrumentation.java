package dev.slmedge.profiler;

import android.app.Instrumentation;
import android.os.Bundle;
import android.util.Log;
import dev.slmedge.profiler.core.Contract;
import java.util.Map;

/**
 * Started by `am instrument -w -r -e config ... -e run_id ...`: runs the profile on the
 * instrumentation thread, sends a status block per phase, finishes with the result and code.
 */
public final class ProfilerInstrumentation extends Instrumentation {
    private static final String TAG = "slm-edge";
    /** The code `am instrument` prints after each status block (INSTRUMENTATION_STATUS_CODE: 1). */
    private static final int STATUS_IN_PROGRESS = 1;

    private Bundle arguments;

    @Override
    public void onCreate(Bundle arguments) {
        super.onCreate(arguments);
        this.arguments = arguments;
        start(); // onStart runs on a new thread; the main thread stays free
    }

    @Override
    public void onStart() {
        super.onStart();
        ProfileSession.Result result;
        try {
            result = ProfileSession.run(getTargetContext(), arguments, this::sendPhase);
        } catch (Throwable unexpected) { // the loop catches its own; this is the session around it
            Log.e(TAG, "profile session failed", unexpected);
            Bundle bundle = new Bundle();
            bundle.putString(Contract.RESULT_STATUS, "failed");
            bundle.putString(Contract.RESULT_ERROR, unexpected.getClass().getSimpleName() + ": " + unexpected.getMessage());
            result = new ProfileSession.Result(Contract.CODE_NOT_COMPLETE, bundle);
        }
        finish(result.code(), result.bundle());
    }

    private void sendPhase(Map<String, String> fields) {
        Bundle status = new Bundle();
        fields.forEach(status::putString);
        Log.i(TAG, "status " + fields);
        sendStatus(STATUS_IN_PROGRESS, status);
    }
}
