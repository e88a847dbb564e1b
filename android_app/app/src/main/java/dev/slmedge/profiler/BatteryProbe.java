package dev.slmedge.profiler;

import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.BatteryManager;
import dev.slmedge.profiler.core.Platform;
import java.util.Map;

/**
 * Battery current (µA, negative = discharging), charge counter (µAh), temperature and whether USB
 * powers the phone, in which case current and energy figures say nothing about the model.
 */
final class BatteryProbe implements Platform.DeviceProbe {
    private final Context context;
    private final BatteryManager battery;

    BatteryProbe(Context context) {
        this.context = context;
        this.battery = context.getSystemService(BatteryManager.class);
    }

    @Override
    public void addTo(Map<String, Object> sample) {
        if (battery != null) {
            sample.put("battery_current_ua", supported(battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW)));
            sample.put("battery_charge_uah", supported(battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER)));
        }
        // The sticky broadcast: no receiver is registered, this only reads the last value.
        Intent state = context.registerReceiver(null, new IntentFilter(Intent.ACTION_BATTERY_CHANGED));
        if (state != null) {
            int tenths = state.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Integer.MIN_VALUE);
            sample.put("battery_temp_c", tenths == Integer.MIN_VALUE ? null : tenths / 10.0);
            sample.put("plugged", state.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) != 0);
        }
    }

    /** BatteryManager answers Integer.MIN_VALUE (or 0 on some devices) for an unsupported property. */
    private static Integer supported(int value) {
        return value == Integer.MIN_VALUE ? null : value;
    }
}
