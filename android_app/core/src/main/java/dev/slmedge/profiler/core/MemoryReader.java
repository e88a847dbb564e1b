package dev.slmedge.profiler.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Process memory from /proc/self/status (VmRSS, VmHWM): one small read, cheap enough to sample
 * every few milliseconds, and it counts mmapped weights, which heap counters miss.
 */
public final class MemoryReader {
    public static final Path PROC_STATUS = Paths.get("/proc/self/status");
    public static final Path SMAPS_ROLLUP = Paths.get("/proc/self/smaps_rollup");

    /** Resident and peak-resident bytes; zero where the kernel did not say. */
    public record Reading(long rssBytes, long hwmBytes) {}

    private final Path status;

    public MemoryReader() {
        this(PROC_STATUS);
    }

    public MemoryReader(Path status) {
        this.status = status;
    }

    /** Never throws: a process that cannot read its own status reports zeros rather than dying. */
    public Reading read() {
        try {
            return parse(new String(Files.readAllBytes(status), StandardCharsets.US_ASCII));
        } catch (IOException | RuntimeException e) {
            return new Reading(0, 0);
        }
    }

    public static Reading parse(String statusText) {
        return new Reading(kilobytesField(statusText, "VmRSS:") * 1024, kilobytesField(statusText, "VmHWM:") * 1024);
    }

    /** Proportional set size from smaps_rollup (Linux), or null; Android uses Debug.getPss(). */
    public static Long readPss(Path smapsRollup) {
        try {
            long kb = kilobytesField(new String(Files.readAllBytes(smapsRollup), StandardCharsets.US_ASCII), "Pss:");
            return kb > 0 ? kb * 1024 : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** "Name:   1234 kB" → 1234; 0 when the line is missing or malformed. */
    static long kilobytesField(String text, String name) {
        for (String line : text.split("\n")) {
            if (!line.startsWith(name)) {
                continue;
            }
            String[] parts = line.substring(name.length()).trim().split("\\s+");
            if (parts.length == 0 || parts[0].isEmpty()) {
                return 0;
            }
            try {
                long value = Long.parseLong(parts[0]);
                boolean kilobytes = parts.length < 2 || parts[1].equalsIgnoreCase("kB");
                return value < 0 ? 0 : kilobytes ? value : value / 1024;
            } catch (NumberFormatException e) {
                return 0;
            }
        }
        return 0;
    }
}
