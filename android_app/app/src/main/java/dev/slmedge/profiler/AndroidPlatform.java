package dev.slmedge.profiler;

import android.app.ActivityManager;
import android.content.Context;
import android.os.Build;
import android.os.Debug;
import android.os.SystemClock;
import dev.slmedge.profiler.core.CpuReader;
import dev.slmedge.profiler.core.Platform;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The phone: Build facts, Debug.getPss, thermal and battery probes, Android's clocks. */
final class AndroidPlatform implements Platform {
    private static final String SYSTEM_TASKSET = "/system/bin/taskset";
    private final Context context;
    private final List<DeviceProbe> probes;
    private final AppIdentity identity;

    AndroidPlatform(Context context, AppIdentity identity) {
        this.context = context;
        this.probes = List.of(new ThermalProbe(context), new BatteryProbe(context));
        this.identity = identity;
    }

    @Override
    public Map<String, Object> deviceFacts() {
        Map<String, Object> facts = new LinkedHashMap<>();
        String soc = Build.VERSION.SDK_INT >= Build.VERSION_CODES.S
                ? (known(Build.SOC_MANUFACTURER) + " " + known(Build.SOC_MODEL)).trim() : null;
        facts.put("model", Build.MANUFACTURER + " " + Build.MODEL);
        // the same fields, in the same words, as the host's adb facts (slm_edge/device/adb/facts.py)
        facts.put("cpu", soc != null && !soc.isEmpty() ? soc : Build.HARDWARE);
        facts.put("soc", soc == null || soc.isEmpty() ? null : soc);
        facts.put("abi", Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : null);
        facts.put("cores", Runtime.getRuntime().availableProcessors());
        facts.put("cpu_max_freq_khz", new CpuReader().maxFrequenciesKhz());
        facts.put("ram_bytes", totalMemory());
        facts.put("os", "Android " + Build.VERSION.RELEASE + " (SDK " + Build.VERSION.SDK_INT + ")");
        facts.put("emulated", isEmulator());
        return facts;
    }

    /** Build answers Build.UNKNOWN ("unknown") for a property the vendor did not set (ro.soc.*). */
    private static String known(String value) {
        return value == null || Build.UNKNOWN.equals(value) ? "" : value;
    }

    private long totalMemory() {
        ActivityManager manager = context.getSystemService(ActivityManager.class);
        ActivityManager.MemoryInfo info = new ActivityManager.MemoryInfo();
        if (manager != null) {
            manager.getMemoryInfo(info);
        }
        return info.totalMem;
    }

    private static boolean isEmulator() {
        return Build.HARDWARE.contains("ranchu") || Build.HARDWARE.contains("goldfish")
                || Build.FINGERPRINT.startsWith("generic") || Build.PRODUCT.contains("sdk");
    }

    @Override
    public Long pssBytes() {
        return Debug.getPss() * 1024; // kB; walks the process's mappings, so phase ends only
    }

    @Override
    public List<DeviceProbe> probes() {
        return probes;
    }

    @Override
    public Map<String, Object> clockExtras() {
        // Read together: LlmModule's stats use wall-clock ms, logcat and Perfetto use these clocks.
        Map<String, Object> clocks = new LinkedHashMap<>();
        clocks.put("nano_time_ns", System.nanoTime());
        clocks.put("elapsed_realtime_ns", SystemClock.elapsedRealtimeNanos());
        clocks.put("current_time_ms", System.currentTimeMillis());
        return clocks;
    }

    @Override
    public Map<String, Object> software() {
        Map<String, Object> software = new LinkedHashMap<>();
        // from the identity asset, so the trace names the versions the host checked before pushing
        software.put("app", identity.versionName() + " (" + identity.versionCode() + ")");
        software.put("executorch", identity.runtime("executorch"));
        software.put("onnxruntime", identity.runtime("onnxruntime"));
        software.put("android_fingerprint", Build.FINGERPRINT);
        software.put("debuggable", (context.getApplicationInfo().flags
                & android.content.pm.ApplicationInfo.FLAG_DEBUGGABLE) != 0);
        return software;
    }

    @Override
    public long processId() {
        return android.os.Process.myPid();
    }

    /**
     * Toybox's taskset (toys/other/taskset.c, CONFIG_TASKSET in AOSP's device build of external/toybox),
     * linked as /system/bin/taskset; an app may run it (it runs in the app's own SELinux domain and UID).
     * By name from PATH where a vendor moved it.
     */
    @Override
    public String taskset() {
        return new File(SYSTEM_TASKSET).canExecute() ? SYSTEM_TASKSET : "taskset";
    }

    @Override
    public String producerName() {
        return "slm-edge-profiler-app";
    }

    @Override
    public String producerVersion() {
        return identity.versionName();
    }
}
