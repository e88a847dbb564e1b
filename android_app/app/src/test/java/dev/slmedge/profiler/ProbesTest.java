package dev.slmedge.profiler;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import android.app.Application;
import android.content.Context;
import android.content.Intent;
import android.os.BatteryManager;
import android.os.PowerManager;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.annotation.Config;
import org.robolectric.shadow.api.Shadow;
import org.robolectric.shadows.ShadowBatteryManager;
import org.robolectric.shadows.ShadowContextImpl;
import org.robolectric.shadows.ShadowPowerManager;

/**
 * Battery and thermal probes on a phone that reports them and on one that does not: what is
 * unsupported is null or absent in the sample, never a made-up value, never an exception.
 */
@RunWith(RobolectricTestRunner.class)
@Config(sdk = 36)
public class ProbesTest {
    private Application app;

    @Before
    public void setUp() {
        app = RuntimeEnvironment.getApplication();
    }

    private static Map<String, Object> sample(dev.slmedge.profiler.core.Platform.DeviceProbe probe) {
        Map<String, Object> sample = new LinkedHashMap<>();
        probe.addTo(sample);
        return sample;
    }

    private void removeService(String name) {
        ShadowContextImpl context = Shadow.extract(app.getBaseContext());
        context.removeSystemService(name);
    }

    /** What BatteryService does on a phone; apps may no longer send sticky broadcasts (deprecated). */
    @SuppressWarnings("deprecation")
    private void stickyBroadcast(Intent intent) {
        app.sendStickyBroadcast(intent);
    }

    @Test
    public void batteryReadingsWhereThePhoneHasThem() {
        ShadowBatteryManager battery = Shadow.extract(app.getSystemService(BatteryManager.class));
        battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW, -250_000);
        battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, 3_000_000);
        battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_ENERGY_COUNTER, 12_000_000_000L);
        // ACTION_BATTERY_CHANGED is sticky: BatteryService sends it with these extras (tenths of °C, mV)
        Intent changed = new Intent(Intent.ACTION_BATTERY_CHANGED);
        changed.putExtra(BatteryManager.EXTRA_TEMPERATURE, 312);
        changed.putExtra(BatteryManager.EXTRA_VOLTAGE, 3_870);
        changed.putExtra(BatteryManager.EXTRA_PLUGGED, BatteryManager.BATTERY_PLUGGED_USB);
        stickyBroadcast(changed);

        Map<String, Object> sample = sample(new BatteryProbe(app));
        assertEquals(-250_000, sample.get("battery_current_ua"));
        assertEquals(3_000_000, sample.get("battery_charge_uah"));
        assertEquals(31.2, (Double) sample.get("battery_temp_c"), 1e-9);
        assertEquals(3_870, sample.get("battery_voltage_mv"));
        assertEquals(12_000_000_000L, sample.get("battery_energy_nwh"));
        assertEquals(true, sample.get("plugged"));
    }

    @Test
    public void batteryPropertiesThePhoneDoesNotSupportAreNull() {
        // BatteryManager.getIntProperty answers Integer.MIN_VALUE for an unsupported property (targetSdk >= P)
        ShadowBatteryManager battery = Shadow.extract(app.getSystemService(BatteryManager.class));
        battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW, Integer.MIN_VALUE);
        battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CHARGE_COUNTER, Integer.MIN_VALUE);
        battery.setLongProperty(BatteryManager.BATTERY_PROPERTY_ENERGY_COUNTER, Long.MIN_VALUE);
        Intent changed = new Intent(Intent.ACTION_BATTERY_CHANGED); // a sticky broadcast without the extras
        stickyBroadcast(changed);

        Map<String, Object> sample = sample(new BatteryProbe(app));
        assertTrue(sample.containsKey("battery_current_ua"));
        assertNull(sample.get("battery_current_ua"));
        assertNull(sample.get("battery_charge_uah"));
        assertNull(sample.get("battery_temp_c"));
        assertNull(sample.get("battery_voltage_mv"));
        assertNull(sample.get("battery_energy_nwh"));
        assertNull(sample.get("plugged"));
    }

    @Test
    public void noBatteryServiceAndNoBatteryBroadcastLeaveTheSampleEmpty() {
        removeService(Context.BATTERY_SERVICE);
        Map<String, Object> sample = sample(new BatteryProbe(app));
        assertTrue(sample.toString(), sample.isEmpty());
    }

    @Test
    public void thermalStatusWhereThePhoneReportsIt() {
        ShadowPowerManager power = Shadow.extract(app.getSystemService(PowerManager.class));
        power.setCurrentThermalStatus(PowerManager.THERMAL_STATUS_MODERATE);
        ThermalProbe probe = new ThermalProbe(app);
        Map<String, Object> sample = sample(probe);
        assertEquals(PowerManager.THERMAL_STATUS_MODERATE, sample.get("thermal_status"));
        // The headroom is read on the first sample: a number, or null where the HAL has none
        // (getThermalHeadroom answers NaN, which is not JSON) — never NaN itself.
        assertTrue(sample.toString(), sample.containsKey("thermal_headroom"));
        Object headroom = sample.get("thermal_headroom");
        assertTrue(String.valueOf(headroom), headroom == null || !Float.isNaN((Float) headroom));

        power.setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE);
        assertEquals(PowerManager.THERMAL_STATUS_SEVERE, sample(probe).get("thermal_status"));
    }

    @Test
    public void noPowerManagerMeansNoThermalReadings() {
        removeService(Context.POWER_SERVICE);
        Map<String, Object> sample = sample(new ThermalProbe(app));
        assertTrue(sample.toString(), sample.isEmpty());
    }

    @Test
    public void platformFactsAndSoftwareComeFromTheDeviceAndTheIdentityAsset() throws Exception {
        AndroidPlatform platform = new AndroidPlatform(app, AppIdentity.read(ProfilerInstrumentationTest::testAsset));
        Map<String, Object> facts = platform.deviceFacts();
        for (String key : List.of("model", "cpu", "soc", "abi", "cores", "cpu_max_freq_khz", "ram_bytes", "os", "emulated")) {
            assertTrue(key + " missing from " + facts, facts.containsKey(key));
        }
        assertTrue(String.valueOf(facts.get("os")), String.valueOf(facts.get("os")).endsWith("(SDK 36)"));
        // Robolectric's Build.SOC_MANUFACTURER/SOC_MODEL are Build.UNKNOWN, as on a phone whose vendor
        // sets no ro.soc.*: no made-up "unknown unknown" SoC, the cpu falls back to Build.HARDWARE
        assertEquals(android.os.Build.UNKNOWN, android.os.Build.SOC_MODEL);
        assertNull(facts.get("soc"));
        assertEquals(android.os.Build.HARDWARE, facts.get("cpu"));
        Map<String, Object> software = platform.software();
        assertFalse(software.toString(), "unknown".equals(software.get("executorch")));
        assertFalse(software.toString(), "unknown".equals(software.get("onnxruntime")));
        assertFalse("unknown".equals(platform.producerVersion()));
        // an APK whose asset cannot be read still profiles; its trace says "unknown" rather than guessing
        AndroidPlatform without = new AndroidPlatform(app, AppIdentity.readOrUnknown(() -> {
            throw new java.io.FileNotFoundException(AppIdentity.ASSET);
        }));
        assertEquals("unknown", without.software().get("executorch"));
        assertEquals(2, platform.probes().size());
    }
}
