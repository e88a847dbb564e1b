package dev.slmedge.profiler;

import android.app.Instrumentation;
import android.os.Bundle;
import android.util.Log;
import dev.slmedge.profiler.core.Contract;
import dev.slmedge.profiler.core.EngineFactory;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

/**
 * Started by `am instrument -w -r -e config ... -e run_id ...`: runs the profile on the
 * instrumentation thread, sends a status block per phase, finishes with the result and code.
 * `am instrument -w -r -e query identity ...` answers the APK's identity asset and runs nothing.
 */
public class ProfilerInstrumentation extends Instrumentation {
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
            result = answer();
        } catch (Throwable unexpected) { // the loop catches its own; this is the session around it
            Log.e(TAG, "profile session failed", unexpected);
            result = ProfileSession.failed(unexpected.getClass().getSimpleName() + ": " + unexpected.getMessage());
        }
        finish(result.code(), result.bundle());
    }

    private ProfileSession.Result answer() throws ReflectiveOperationException {
        String query = arguments == null ? null : arguments.getString(Contract.EXTRA_QUERY);
        if (query != null) {
            if (Contract.QUERY_IDENTITY.equals(query)) {
                return ProfileSession.identity(this::openIdentityAsset);
            }
            return ProfileSession.failed("unknown query " + query + " (this app answers -e " + Contract.EXTRA_QUERY
                    + " " + Contract.QUERY_IDENTITY + "; update the host or the app)");
        }
        return ProfileSession.run(getTargetContext(), arguments, this::sendPhase, engines(),
                AppIdentity.readOrUnknown(this::openIdentityAsset));
    }

    /** The identity asset of this APK (the instrumentation's own package: targetPackage is itself). */
    protected InputStream openIdentityAsset() throws IOException {
        return getContext().getAssets().open(AppIdentity.ASSET);
    }

    /** The engines a run uses: the APK's runtimes (a desktop engine in the Robolectric tests). */
    protected EngineFactory engines() throws ReflectiveOperationException {
        return ProfileSession.appEngines();
    }

    private void sendPhase(Map<String, String> fields) {
        Bundle status = new Bundle();
        fields.forEach(status::putString);
        Log.i(TAG, "status " + fields);
        sendStatus(STATUS_IN_PROGRESS, status);
    }
}
