package dev.slmedge.profiler;

import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.os.BatteryManager;
import android.util.Log;
import dev.slmedge.profiler.core.Platform;
import java.util.Map;

/**
 * Battery current (µA, negative = discharging), voltage (mV), charge counter (µAh), energy counter
 * (nWh, few phones have it), temperature and whether USB powers the phone, in which case current and
 * energy figures say nothing about the model. The host turns |current| × voltage into power and
 * energy per token (slm_edge/analysis/energy.py). What the
 * phone cannot tell is left out of the sample (or null), never guessed and never a crash.
 */
final class BatteryProbe implements Platform.DeviceProbe {
    private final Context context;
    private final BatteryManager battery;
    private boolean failureLogged;

    BatteryProbe(Context context) {
        this.context = context;
        this.battery = context.getSystemService(BatteryManager.class);
    }

    @Override
    public void addTo(Map<String, Object> sample) {
        try {
            if (battery != null) {
                sample.put("battery_current_ua", supported(battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW)));
                sample.put("battery_charge_uah", supported(battery.getIntProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER)));
                sample.put("battery_energy_nwh", supported(battery.getLongProperty(BatteryManager.BATTERY_PROPERTY_ENERGY_COUNTER)));
            }
            // The sticky broadcast: no receiver is registered, this only reads the last value.
            Intent state = context.registerReceiver(null, new IntentFilter(Intent.ACTION_BATTERY_CHANGED));
            if (state != null) {
                sample.put("battery_temp_c", state.hasExtra(BatteryManager.EXTRA_TEMPERATURE)
                        ? state.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, 0) / 10.0 : null); // tenths of °C
                sample.put("battery_voltage_mv", state.hasExtra(BatteryManager.EXTRA_VOLTAGE)
                        ? (Integer) state.getIntExtra(BatteryManager.EXTRA_VOLTAGE, 0) : null); // millivolts
                sample.put("plugged", state.hasExtra(BatteryManager.EXTRA_PLUGGED)
                        ? state.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) != 0 : null);
            }
        } catch (RuntimeException e) { // a probe must not end the sampler thread (Platform.DeviceProbe)
            if (!failureLogged) {
                Log.w("slm-edge", "battery probe failed; its readings are left out", e);
                failureLogged = true;
            }
        }
    }

    /**
     * BatteryManager.getIntProperty's documented answer for an unsupported property is
     * Integer.MIN_VALUE for apps targeting P or later (0 before P); this app targets 36.
     */
    private static Integer supported(int value) {
        return value == Integer.MIN_VALUE ? null : value;
    }

    /** getLongProperty's answer for an unsupported property: Long.MIN_VALUE (BatteryManager's documentation). */
    private static Long supported(long value) {
        return value == Long.MIN_VALUE ? null : value;
    }
}
