package dev.slmedge.profiler.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * CPU frequency and temperature from sysfs. AOSP policy lets apps read scaling_cur_freq, vendors
 * may block it: an unreadable core is null, no readable core at all is null.
 *
 * <p>sysfs is read under SLM_EDGE_SYSFS_ROOT (default /), as the Linux runner's readers do
 * (slm_edge/runner/samplers.py's sysfs()): on a desktop JVM the emulated device points it at the tree
 * its scripted signals write; on a phone the variable is unset and this reads /sys.
 */
public final class CpuReader {
    public static final String SYSFS_ROOT_ENV = "SLM_EDGE_SYSFS_ROOT";

    private final File thermalRoot;
    private final List<File> cores;

    public CpuReader() {
        this(sysfs("devices/system/cpu"), sysfs("class/thermal"));
    }

    public CpuReader(File cpuRoot, File thermalRoot) {
        this.thermalRoot = thermalRoot;
        this.cores = listCores(cpuRoot);
    }

    /** cpu0, cpu1, ... cpu10 in numeric order (not cpuidle, cpufreq). */
    private static List<File> listCores(File root) {
        File[] entries = root.listFiles((dir, name) -> name.matches("cpu[0-9]+"));
        List<File> out = new ArrayList<>(entries == null ? List.of() : Arrays.asList(entries));
        out.sort(Comparator.comparingInt(f -> Integer.parseInt(f.getName().substring(3))));
        return out;
    }

    public List<Long> currentFrequenciesKhz() {
        return perCore("cpufreq/scaling_cur_freq");
    }

    public List<Long> maxFrequenciesKhz() {
        return perCore("cpufreq/cpuinfo_max_freq");
    }

    private List<Long> perCore(String file) {
        List<Long> out = new ArrayList<>();
        boolean any = false;
        for (File core : cores) {
            Long value = readLong(new File(core, file));
            any |= value != null;
            out.add(value);
        }
        return any ? out : null;
    }

    /** The hottest thermal zone in °C, or null where none is readable (emulators, locked phones). */
    public Double temperatureC() {
        File[] zones = thermalRoot.listFiles((dir, name) -> name.startsWith("thermal_zone"));
        Double hottest = null;
        for (File zone : zones == null ? new File[0] : zones) {
            Long milli = readLong(new File(zone, "temp"));
            if (milli != null && (hottest == null || milli / 1000.0 > hottest)) {
                hottest = milli / 1000.0;
            }
        }
        return hottest;
    }

    public int coreCount() {
        return cores.isEmpty() ? Runtime.getRuntime().availableProcessors() : cores.size();
    }

    /** A path under /sys, or under $SLM_EDGE_SYSFS_ROOT/sys when that is set (read at each call). */
    public static File sysfs(String relative) {
        return new File(sysfsDir(), relative);
    }

    /** The folder that stands for /sys: $SLM_EDGE_SYSFS_ROOT/sys, or /sys. */
    public static File sysfsDir() {
        return sysfsRoot(System.getenv(SYSFS_ROOT_ENV));
    }

    /** ROOT/sys for a root from the environment; null or empty: the real /sys. */
    static File sysfsRoot(String root) {
        return new File(root == null || root.isEmpty() ? "/" : root, "sys");
    }

    static Long readLong(File file) {
        try {
            return Long.parseLong(new String(Files.readAllBytes(file.toPath()), StandardCharsets.US_ASCII).trim());
        } catch (IOException | NumberFormatException | SecurityException e) {
            return null;
        }
    }
}
