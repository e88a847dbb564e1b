package dev.slmedge.profiler;

import android.app.Activity;
import android.os.Bundle;
import android.view.WindowManager;
import android.widget.ScrollView;
import android.widget.TextView;
import java.util.Map;

/**
 * Manual runs with the same extras as the instrumentation:
 * `am start -n dev.slmedge.profiler/.ProfileActivity -e config <run_config.json> -e run_id <id>`.
 * Shows progress and the result; the trace lands where the instrumentation writes it.
 */
public final class ProfileActivity extends Activity {
    private TextView log;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        // A screen that turns off lets the phone slow its CPU mid-run.
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON);
        log = new TextView(this);
        log.setPadding(32, 32, 32, 32);
        ScrollView scroll = new ScrollView(this);
        scroll.addView(log);
        setContentView(scroll);
        if (savedInstanceState != null) {
            append("the activity was recreated; start the run again");
            return;
        }
        Bundle extras = getIntent().getExtras();
        append("slm-edge profiler " + AppIdentity.readOrUnknown(AppIdentity.assets(this)).versionName());
        new Thread(() -> {
            ProfileSession.Result result = ProfileSession.run(getApplicationContext(), extras, this::showPhase);
            StringBuilder text = new StringBuilder("finished:");
            for (String key : result.bundle().keySet()) {
                text.append("\n  ").append(key).append('=').append(result.bundle().getString(key));
            }
            runOnUiThread(() -> append(text.toString()));
        }, "slm-edge-profile").start();
    }

    private void showPhase(Map<String, String> fields) {
        runOnUiThread(() -> append(fields.toString()));
    }

    private void append(String line) {
        log.append(line + "\n");
    }
}
