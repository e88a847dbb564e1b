package dev.slmedge.profiler.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * The run config's cpus: this whole process pinned to those cores before the engine loads, whatever the
 * engine or mode, as the Linux runner pins itself (slm_edge/runner/samplers.py apply_cpu_mask; the trace's
 * software.cpu_pinning.scope "process").
 *
 * <p>Java has no thread-affinity API, and the runtimes' own settings do not reach a phone: onnxruntime's
 * session.intra_op_thread_affinities is compiled out of Android builds (core/platform/posix/env.cc calls
 * pthread_setaffinity_np only under {@code #if !defined(__APPLE__) && !defined(__ANDROID__) &&
 * !defined(__wasm__)}), and ExecuTorch's Module and LlmModule have no affinity setting. So the app runs
 * {@code taskset -a -p MASK PID} on its own pid: on Android toybox's taskset (toys/other/taskset.c, usage
 * {@code taskset [-ap] [mask] [PID | cmd [args...]]}: -p changes an existing PID, -a every thread of it,
 * listed from /proc/PID/task), on a desktop util-linux taskset(1), same flags. It calls
 * sched_setaffinity(2) per thread, which a process may do to threads of its own UID (sched_setaffinity(2):
 * EPERM unless the caller's effective UID matches the target's, or CAP_SYS_NICE); the child runs as the
 * app's UID, and on Android in the app's SELinux domain (AOSP system/sepolicy domain.te lets every domain
 * setsched itself). Threads created later inherit their creator's mask (sched_setaffinity(2): a child
 * created by fork(2), and likewise a clone(2) thread, inherits its parent's CPU affinity mask), so the
 * runtimes' thread pools, made when the engine loads, are pinned as well.
 *
 * <p>What taskset reports is not trusted: every thread's Cpus_allowed_list (/proc/self/task/TID/status,
 * proc(5)) is read back and must be exactly the chosen cores. The kernel intersects a requested mask with
 * what the thread's cpuset allows and refuses (EINVAL) a mask with none of those cores (sched_setaffinity(2));
 * on Android the app's cpuset cgroup (top-app, foreground, background, ..., chosen by the framework by the
 * app's state, their cores by the vendor) bounds what the app may be given, so a core outside it fails here.
 */
public final class CpuPinning {
    /** The trace's software.cpu_pinning.scope: the whole process, as the Linux runner writes it. */
    public static final String SCOPE = "process";
    static final long TIMEOUT_MS = 10_000;
    /**
     * Tries before failing: a thread started while taskset walked /proc/PID/task (by a thread it had not
     * pinned yet; the JVM starts a process-reaper thread for taskset itself) keeps the old mask, and a
     * thread that ended meanwhile makes taskset fail on it. Both pass on the next try.
     */
    static final int ATTEMPTS = 3;
    private static final int MAX_OUTPUT_CHARS = 300;
    private static final int THREADS_NAMED = 3;

    private CpuPinning() {}

    /** taskset's mask argument: bit N set for core N, in hexadecimal (cores 0 and 2 → "5", core 64 → "1" + 16 zeros). */
    public static String hexMask(Collection<Integer> cores) {
        BigInteger mask = BigInteger.ZERO;
        for (int core : cores) {
            if (core < 0) {
                throw new IllegalArgumentException("core " + core + " is below 0");
            }
            mask = mask.setBit(core);
        }
        if (mask.signum() == 0) {
            throw new IllegalArgumentException("no cores to pin to");
        }
        return mask.toString(16);
    }

    /** A pinned process: {@link #restore} gives every thread back the cores the process had before. */
    public static final class Pinned {
        private final String taskset;
        private final long pid;
        private final List<Integer> cores;
        private final TreeSet<Integer> before;

        Pinned(String taskset, long pid, List<Integer> cores, TreeSet<Integer> before) {
            this.taskset = taskset;
            this.pid = pid;
            this.cores = cores;
            this.before = before;
        }

        /** The chosen cores, sorted: the trace's software.cpus_allowed. */
        public List<Integer> cores() {
            return cores;
        }

        /** The cores the process's threads could use before (their union). */
        public List<Integer> coresBefore() {
            return Collections.unmodifiableList(new ArrayList<>(before));
        }

        /**
         * Best effort, when the run is over: a process that lives on (the activity's manual runs, a test
         * JVM) must not run its next, maybe unpinned, run on these cores only. True when taskset succeeded.
         */
        public boolean restore() {
            if (before.isEmpty()) {
                return false;
            }
            try {
                // retried as pin() is: a thread that ends while taskset walks the task list fails that try
                for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
                    Integer exit = run(command(taskset, before, pid)).exit;
                    if (exit != null && exit == 0) {
                        return true;
                    }
                }
                return false;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    /**
     * Pin every thread of process `pid` (this process: `threads` reads its /proc/self/task) to `cores` with
     * `taskset` (a command name or path) and check that each thread may now run there only. Fails with one
     * line naming the command, what it printed and the allowed cores found.
     */
    public static Pinned pin(String taskset, long pid, List<Integer> cores, ThreadPlacement threads)
            throws ProfileLoop.ProfileException, InterruptedException {
        TreeSet<Integer> wanted = new TreeSet<>(cores);
        TreeSet<Integer> before = new TreeSet<>();
        threads.allowedCores().values().forEach(before::addAll);
        List<String> command = command(taskset, wanted, pid);
        String problem = null;
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            Run run = run(command);
            Map<String, TreeSet<Integer>> allowed = threads.allowedCores();
            List<String> strays = strays(allowed, wanted, false);
            if (run.exit != null && run.exit == 0 && strays.isEmpty() && !allowed.isEmpty()) {
                return new Pinned(taskset, pid, Collections.unmodifiableList(new ArrayList<>(wanted)), before);
            }
            problem = "`" + String.join(" ", command) + "` " + run.describe()
                    + "; " + (allowed.isEmpty() ? "the threads' Cpus_allowed_list cannot be read (/proc/self/task)"
                            : "then the threads' Cpus_allowed_list was " + summary(allowed, threads));
            if (!run.started) {
                break; // no taskset: trying again changes nothing
            }
        }
        // a partial success (a cpuset that kept some of the cores) must not outlive the failed run
        new Pinned(taskset, pid, Collections.emptyList(), before).restore();
        throw new ProfileLoop.ProfileException("cannot pin this process to cores " + wanted + " (run config cpus): "
                + problem + ". The chosen cores must be within those this app may run on ("
                + (before.isEmpty() ? "unknown" : cpuList(before)) + " before pinning; on Android the app's cpuset "
                + "cgroup bounds them), and taskset must be runnable");
    }

    /**
     * After the engine loaded (its runtime started its threads): every thread still runs on the chosen cores
     * only. A runtime that set its own threads' affinity may have narrowed them to some of these cores (still
     * pinned) or widened them (the pinning would be a lie): the latter fails.
     */
    public static void checkStillPinned(List<Integer> cores, ThreadPlacement threads) throws ProfileLoop.ProfileException {
        TreeSet<Integer> wanted = new TreeSet<>(cores);
        Map<String, TreeSet<Integer>> allowed = threads.allowedCores();
        if (!strays(allowed, wanted, true).isEmpty()) {
            throw new ProfileLoop.ProfileException("the engine's runtime moved threads off the pinned cores " + wanted
                    + " (run config cpus) while loading: their Cpus_allowed_list was " + summary(allowed, threads));
        }
    }

    /** Thread ids allowed other cores than `wanted` (subset: fewer of them is fine). */
    private static List<String> strays(Map<String, TreeSet<Integer>> allowed, TreeSet<Integer> wanted, boolean subset) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, TreeSet<Integer>> thread : allowed.entrySet()) {
            TreeSet<Integer> set = thread.getValue();
            if (subset ? set.isEmpty() || !wanted.containsAll(set) : !set.equals(wanted)) {
                out.add(thread.getKey());
            }
        }
        return out;
    }

    /** "1 (20 threads), 0-1 (2 threads: 4711 java, 4712 process reaper)": each list, how many, a few names. */
    static String summary(Map<String, TreeSet<Integer>> allowed, ThreadPlacement threads) {
        List<String> tidsInOrder = new ArrayList<>(allowed.keySet());
        tidsInOrder.sort(java.util.Comparator.comparingLong(CpuPinning::number)); // the main thread (tid = pid) first
        Map<TreeSet<Integer>, List<String>> byList = new LinkedHashMap<>();
        for (String tid : tidsInOrder) {
            byList.computeIfAbsent(allowed.get(tid), k -> new ArrayList<>()).add(tid);
        }
        List<String> parts = new ArrayList<>();
        for (Map.Entry<TreeSet<Integer>, List<String>> list : byList.entrySet()) {
            List<String> tids = list.getValue();
            StringBuilder part = new StringBuilder(cpuList(list.getKey())).append(" (").append(tids.size())
                    .append(tids.size() == 1 ? " thread" : " threads");
            if (byList.size() > 1) {
                List<String> named = new ArrayList<>();
                for (String tid : tids.subList(0, Math.min(THREADS_NAMED, tids.size()))) {
                    String name = threads.threadName(tid);
                    named.add(name == null ? tid : tid + " " + name);
                }
                part.append(": ").append(String.join(", ", named)).append(tids.size() > THREADS_NAMED ? ", ..." : "");
            }
            parts.add(part.append(")").toString());
        }
        return String.join(", ", parts);
    }

    private static long number(String tid) {
        try {
            return Long.parseLong(tid);
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    /** The kernel's list format: [0, 1, 2, 5] → "0-2,5". */
    static String cpuList(Collection<Integer> cores) {
        List<Integer> sorted = new ArrayList<>(new TreeSet<>(cores));
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < sorted.size(); ) {
            int j = i;
            while (j + 1 < sorted.size() && sorted.get(j + 1) == sorted.get(j) + 1) {
                j++;
            }
            out.append(out.length() == 0 ? "" : ",").append(sorted.get(i));
            if (j > i) {
                out.append('-').append(sorted.get(j));
            }
            i = j + 1;
        }
        return out.length() == 0 ? "none" : out.toString();
    }

    private static List<String> command(String taskset, Collection<Integer> cores, long pid) {
        return Collections.unmodifiableList(java.util.Arrays.asList(taskset, "-a", "-p", hexMask(cores), Long.toString(pid)));
    }

    /**
     * How taskset ended: exit null = it could not start (output: why) or was killed after TIMEOUT_MS; its
     * output on one line, error lines first.
     */
    private record Run(Integer exit, String output, boolean started) {
        String describe() {
            if (!started) {
                return "cannot be run (" + output + "; taskset is toybox's on Android, /system/bin/taskset, "
                        + "and util-linux's on Linux)";
            }
            return (exit == null ? "did not finish within " + TIMEOUT_MS / 1000 + " s"
                    : exit == 0 ? "succeeded" : "exited with status " + exit)
                    + (output.isEmpty() ? ", printing nothing" : " and printed: " + output);
        }
    }

    private static Run run(List<String> command) throws InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException | SecurityException e) {
            return new Run(null, String.valueOf(e.getMessage()), false);
        }
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        // read on a thread of its own, so a taskset that never ends cannot hold this one past the timeout
        Thread reader = new Thread(() -> drain(process.getInputStream(), output), "slm-edge-taskset-output");
        reader.setDaemon(true);
        reader.start();
        boolean finished = process.waitFor(TIMEOUT_MS, TimeUnit.MILLISECONDS);
        if (!finished) {
            process.destroyForcibly();
        }
        reader.join(1000);
        byte[] bytes;
        synchronized (output) {
            bytes = output.toByteArray();
        }
        return new Run(finished ? process.exitValue() : null, oneLine(new String(bytes, StandardCharsets.UTF_8)), true);
    }

    private static void drain(InputStream in, ByteArrayOutputStream out) {
        byte[] buffer = new byte[4096];
        try (in) {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                synchronized (out) {
                    out.write(buffer, 0, n);
                }
            }
        } catch (IOException ignored) {
            // the process was killed: what was read is kept
        }
    }

    /**
     * taskset's output on one line: its error lines (not the "pid N's current/new affinity mask: M" lines it
     * prints per thread), else its last line, cut to MAX_OUTPUT_CHARS.
     */
    static String oneLine(String text) {
        List<String> lines = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (String line : text.split("\n")) {
            String trimmed = line.trim();
            if (!trimmed.isEmpty()) {
                lines.add(trimmed);
                if (!trimmed.startsWith("pid ")) {
                    errors.add(trimmed);
                }
            }
        }
        String picked = !errors.isEmpty() ? String.join(" | ", errors)
                : lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        return picked.length() <= MAX_OUTPUT_CHARS ? picked : picked.substring(0, MAX_OUTPUT_CHARS) + "...";
    }
}
