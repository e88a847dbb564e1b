package dev.slmedge.profiler;

import android.content.Context;
import android.os.Build;
import android.os.PowerManager;
import android.os.SystemClock;
import android.util.Log;
import dev.slmedge.profiler.core.Platform;
import java.util.Map;

/**
 * PowerManager's thermal status (0 none … 6 shutdown) and headroom (1.0 = throttling starts).
 * getThermalHeadroom returns NaN when unsupported or asked more than about once a second
 * (PowerManager's documentation), so it is cached and NaN becomes null. No PowerManager: nothing.
 */
final class ThermalProbe implements Platform.DeviceProbe {
    private static final long HEADROOM_EVERY_MS = 1500;
    private static final int FORECAST_SECONDS = 0; // the current headroom, not a forecast

    private final PowerManager power;
    private long headroomReadAt = Long.MIN_VALUE;
    private Float headroom;
    private boolean failureLogged;

    ThermalProbe(Context context) {
        power = context.getSystemService(PowerManager.class);
    }

    @Override
    public void addTo(Map<String, Object> sample) {
        if (power == null) {
            return;
        }
        try {
            sample.put("thermal_status", power.getCurrentThermalStatus());
            if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                long now = SystemClock.elapsedRealtime();
                if (headroomReadAt == Long.MIN_VALUE || now - headroomReadAt >= HEADROOM_EVERY_MS) {
                    float value = power.getThermalHeadroom(FORECAST_SECONDS);
                    headroom = Float.isNaN(value) ? null : value; // NaN is not JSON
                    headroomReadAt = now;
                }
                sample.put("thermal_headroom", headroom);
            }
        } catch (RuntimeException e) { // a probe must not end the sampler thread (Platform.DeviceProbe)
            if (!failureLogged) {
                Log.w("slm-edge", "thermal probe failed; its readings are left out", e);
                failureLogged = true;
            }
        }
    }
}
