package dev.slmedge.profiler.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

/**
 * The board's power figures from sysfs, for a desktop JVM (the phone has BatteryProbe): the same keys
 * and rules as the Linux runner's power_readings (slm_edge/runner/samplers.py), so a trace from either
 * reports power the same way. power_supply (Documentation/ABI/testing/sysfs-class-power): the first
 * battery's current_now (µA), voltage_now (µV, written as mV) and power_now (µW); plugged when a battery
 * says Charging, Full or Not charging, or a mains/USB supply is online. Also RAPL's energy counter (µJ,
 * wraps at max_energy_range_uj) and hwmon's power1_input (µW). Absent files leave their keys out.
 */
public final class SysfsPowerProbe implements Platform.DeviceProbe {
    private static final Set<String> PLUGGED_STATUSES = Set.of("Charging", "Full", "Not charging");
    private static final Set<String> EXTERNAL_SUPPLIES = Set.of("Mains", "USB", "USB_PD", "USB_C", "Wireless");

    private final File sys;

    /** Under SLM_EDGE_SYSFS_ROOT, read when constructed (CpuReader.sysfsDir). */
    public SysfsPowerProbe() {
        this(CpuReader.sysfsDir());
    }

    /** sys: the folder that stands for /sys. */
    public SysfsPowerProbe(File sys) {
        this.sys = sys;
    }

    @Override
    public void addTo(Map<String, Object> sample) {
        Boolean plugged = null;
        for (File supply : sorted(new File(sys, "class/power_supply").listFiles())) {
            String kind = readText(new File(supply, "type"));
            if ("Battery".equals(kind) && !sample.containsKey("battery_current_ua")) {
                Long current = CpuReader.readLong(new File(supply, "current_now"));
                Long voltage = CpuReader.readLong(new File(supply, "voltage_now"));
                Long power = CpuReader.readLong(new File(supply, "power_now"));
                String status = readText(new File(supply, "status"));
                if (current != null) {
                    sample.put("battery_current_ua", current);
                }
                if (voltage != null) {
                    sample.put("battery_voltage_mv", voltage / 1000.0);
                }
                if (power != null) {
                    sample.put("battery_power_uw", power);
                }
                if (status != null) {
                    plugged = Boolean.TRUE.equals(plugged) || PLUGGED_STATUSES.contains(status);
                }
            } else if (EXTERNAL_SUPPLIES.contains(kind)) {
                Long online = CpuReader.readLong(new File(supply, "online"));
                if (online != null) {
                    plugged = Boolean.TRUE.equals(plugged) || online == 1;
                }
            }
        }
        if (plugged != null) {
            sample.put("plugged", plugged);
        }
        File rapl = new File(sys, "class/powercap/intel-rapl:0");
        Long energy = CpuReader.readLong(new File(rapl, "energy_uj"));
        if (energy != null) {
            sample.put("rapl_energy_uj", energy);
            sample.put("rapl_range_uj", CpuReader.readLong(new File(rapl, "max_energy_range_uj")));
        }
        for (File hwmon : sorted(new File(sys, "class/hwmon").listFiles((dir, name) -> name.startsWith("hwmon")))) {
            File input = new File(hwmon, "power1_input");
            if (input.exists()) { // the first hwmon with a power input, even if it cannot be read now
                sample.put("hwmon_power_uw", CpuReader.readLong(input));
                break;
            }
        }
    }

    private static File[] sorted(File[] files) {
        if (files == null) {
            return new File[0];
        }
        Arrays.sort(files); // by path, as the runner's sorted(glob(...))
        return files;
    }

    private static String readText(File file) {
        try {
            return new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8).trim();
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
