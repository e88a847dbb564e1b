package dev.slmedge.profiler.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A plain JVM on Linux (or anywhere): device facts from /proc and system properties, power from sysfs
 * (under SLM_EDGE_SYSFS_ROOT, as CpuReader), the same figures the Linux runner records.
 */
public final class DesktopPlatform implements Platform {
    public static final String PRODUCER = "slm-edge-profiler-core";
    public static final String VERSION = "1.0.0";

    private final CpuReader cpu;
    private final List<DeviceProbe> probes;

    public DesktopPlatform(CpuReader cpu) {
        this(cpu, List.of(new SysfsPowerProbe()));
    }

    /** With other probes (tests: a power_supply tree of their own). */
    DesktopPlatform(CpuReader cpu, List<DeviceProbe> probes) {
        this.cpu = cpu;
        this.probes = List.copyOf(probes);
    }

    @Override
    public Map<String, Object> deviceFacts() {
        Map<String, Object> facts = new LinkedHashMap<>();
        facts.put("model", hostName() + " (desktop JVM)");
        facts.put("cpu", cpuName());
        facts.put("soc", null);
        facts.put("abi", System.getProperty("os.arch"));
        facts.put("cores", Runtime.getRuntime().availableProcessors());
        facts.put("cpu_max_freq_khz", cpu.maxFrequenciesKhz());
        facts.put("ram_bytes", MemoryReader.kilobytesField(readOr("/proc/meminfo", ""), "MemTotal:") * 1024);
        facts.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        facts.put("emulated", false);
        return facts;
    }

    private static String cpuName() {
        for (String line : readOr("/proc/cpuinfo", "").split("\n")) {
            String lower = line.toLowerCase(java.util.Locale.ROOT);
            if (lower.startsWith("model name") || lower.startsWith("hardware")) {
                return line.substring(line.indexOf(':') + 1).trim();
            }
        }
        return System.getProperty("os.arch");
    }

    private static String hostName() {
        String fromFile = readOr("/etc/hostname", "").trim();
        return fromFile.isEmpty() ? "localhost" : fromFile;
    }

    private static String readOr(String path, String fallback) {
        try {
            return new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }

    @Override
    public Long pssBytes() {
        return MemoryReader.readPss(MemoryReader.SMAPS_ROLLUP);
    }

    @Override
    public List<DeviceProbe> probes() {
        return probes;
    }

    @Override
    public Map<String, Object> clockExtras() {
        return Map.of();
    }

    @Override
    public Map<String, Object> software() {
        Map<String, Object> software = new LinkedHashMap<>();
        software.put("java", System.getProperty("java.version"));
        software.put("java_vm", System.getProperty("java.vm.name"));
        return software;
    }

    /** ProcessHandle: Java 9+, desktop only (not in Android's API; AndroidPlatform asks android.os.Process). */
    @Override
    public long processId() {
        return ProcessHandle.current().pid();
    }

    @Override
    public String producerName() {
        return PRODUCER;
    }

    @Override
    public String producerVersion() {
        return VERSION;
    }
}
