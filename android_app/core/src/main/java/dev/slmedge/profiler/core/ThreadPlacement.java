package dev.slmedge.profiler.core;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Which cores this process's threads ran on (the trace's cpu_samples[].thread_cores), as the Linux
 * runner's ThreadPlacement (slm_edge/runner/samplers.py): for each thread that used CPU since the last
 * call, the core it last ran on. From /proc/self/task/TID/stat (proc(5)): after the ")" that ends comm,
 * field 3 (state) is index 0, so utime (field 14) is index 11, stime (15) index 12 and processor (39)
 * index 36. An app may read its own threads' files on Android as on Linux.
 *
 * <p>Also each thread's allowed cores (/proc/self/task/TID/status, Cpus_allowed_list; proc(5)), which
 * tells whether the run config's cpus really pinned every thread (CpuPinning).
 */
public final class ThreadPlacement {
    public static final File TASKS = new File("/proc/self/task");

    private final File tasks;
    private final Map<String, Long> cpuTicks = new HashMap<>();

    public ThreadPlacement() {
        this(TASKS);
    }

    public ThreadPlacement(File tasks) {
        this.tasks = tasks;
    }

    /**
     * Core number (as a string, the stat file's processor field) → how many threads used CPU there since
     * the last call (the first call: threads with any CPU time at all); null when the tasks cannot be listed.
     */
    public synchronized Map<String, Integer> cores() {
        String[] tids = tasks.list();
        if (tids == null) {
            return null;
        }
        Map<String, Integer> busy = new LinkedHashMap<>();
        for (String tid : tids) {
            String[] fields = statFields(new File(tasks, tid + "/stat"));
            if (fields == null || fields.length <= 36) {
                continue; // a thread that ended (or a stat file this parser does not know)
            }
            long ticks;
            try {
                ticks = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
            } catch (NumberFormatException e) {
                continue;
            }
            if (ticks > cpuTicks.getOrDefault(tid, 0L)) {
                busy.merge(fields[36], 1, Integer::sum);
            }
            cpuTicks.put(tid, ticks);
        }
        return busy;
    }

    /** The fields after comm's closing ")" (comm may hold spaces and parentheses), or null. */
    static String[] statFields(File stat) {
        String text = readText(stat);
        int end = text == null ? -1 : text.lastIndexOf(')');
        return end < 0 ? null : text.substring(end + 1).trim().split("\\s+");
    }

    /** Thread id → the cores it may run on (Cpus_allowed_list); threads whose status cannot be read are left out. */
    public Map<String, TreeSet<Integer>> allowedCores() {
        Map<String, TreeSet<Integer>> out = new LinkedHashMap<>();
        String[] tids = tasks.list();
        for (String tid : tids == null ? new String[0] : tids) {
            String status = readText(new File(tasks, tid + "/status"));
            if (status == null) {
                continue;
            }
            for (String line : status.split("\n")) {
                if (line.startsWith("Cpus_allowed_list:")) {
                    TreeSet<Integer> cores = parseCpuList(line.substring("Cpus_allowed_list:".length()));
                    if (cores != null) {
                        out.put(tid, cores);
                    }
                    break;
                }
            }
        }
        return out;
    }

    /** A thread's name (/proc/self/task/TID/comm), or null when it ended. */
    public String threadName(String tid) {
        String comm = readText(new File(tasks, tid + "/comm"));
        return comm == null ? null : comm.trim();
    }

    /** The kernel's cpu list format ("0-3,5"); null when malformed. */
    static TreeSet<Integer> parseCpuList(String list) {
        TreeSet<Integer> cores = new TreeSet<>();
        try {
            for (String part : list.trim().split(",")) {
                if (part.isEmpty()) {
                    continue;
                }
                int dash = part.indexOf('-');
                int from = Integer.parseInt(dash < 0 ? part : part.substring(0, dash));
                int to = dash < 0 ? from : Integer.parseInt(part.substring(dash + 1));
                for (int core = from; core <= to; core++) {
                    cores.add(core);
                }
            }
        } catch (NumberFormatException e) {
            return null;
        }
        return cores;
    }

    private static String readText(File file) {
        try {
            return new String(Files.readAllBytes(file.toPath()), StandardCharsets.US_ASCII);
        } catch (IOException | SecurityException e) {
            return null;
        }
    }
}
