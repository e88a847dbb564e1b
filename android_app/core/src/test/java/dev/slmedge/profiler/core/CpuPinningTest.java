package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class CpuPinningTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    static boolean onPath(String command) {
        String path = System.getenv("PATH");
        for (String dir : (path == null ? "" : path).split(File.pathSeparator)) {
            if (!dir.isEmpty() && new File(dir, command).canExecute()) {
                return true;
            }
        }
        return false;
    }

    @Test
    public void theMaskIsHexWithOneBitPerCore() {
        assertEquals("1", CpuPinning.hexMask(List.of(0)));
        assertEquals("2", CpuPinning.hexMask(List.of(1)));
        assertEquals("5", CpuPinning.hexMask(List.of(2, 0)));
        assertEquals("f0", CpuPinning.hexMask(List.of(4, 5, 6, 7)));
        assertEquals("10000000000000000", CpuPinning.hexMask(List.of(64))); // beyond one long: toybox reads any length
        assertEquals("8" + "0".repeat(255), CpuPinning.hexMask(List.of(1023)));
        assertThrows(IllegalArgumentException.class, () -> CpuPinning.hexMask(List.of()));
        assertThrows(IllegalArgumentException.class, () -> CpuPinning.hexMask(List.of(-1)));
    }

    @Test
    public void listsAreWrittenAsTheKernelWritesThem() {
        assertEquals("0-2,5", CpuPinning.cpuList(List.of(5, 0, 1, 2)));
        assertEquals("1", CpuPinning.cpuList(List.of(1)));
        assertEquals("0,2,4-5", CpuPinning.cpuList(List.of(0, 2, 4, 5)));
        assertEquals("none", CpuPinning.cpuList(List.of()));
        assertEquals(new TreeSet<>(List.of(0, 2, 4, 5)), ThreadPlacement.parseCpuList(CpuPinning.cpuList(List.of(0, 2, 4, 5))));
    }

    @Test
    public void tasksetsOutputKeepsItsErrorsOnOneLine() {
        // toybox and util-linux print each thread's masks, then perror's line on failure
        assertEquals("taskset: failed to set pid 12's affinity: Invalid argument", CpuPinning.oneLine(
                "pid 11's current affinity mask: 3\npid 11's new affinity mask: 2\n"
                        + "taskset: failed to set pid 12's affinity: Invalid argument\n"));
        assertEquals("pid 11's new affinity mask: 2", CpuPinning.oneLine(
                "pid 11's current affinity mask: 3\npid 11's new affinity mask: 2\n"));
        assertEquals("", CpuPinning.oneLine(""));
        assertEquals(303, CpuPinning.oneLine("x".repeat(1000)).length());
    }

    /** A /proc/self/task of the test's own: each thread's status holds the Cpus_allowed_list given. */
    private File tasks(String... tidAndList) throws Exception {
        File tasks = folder.newFolder("task");
        for (int i = 0; i + 1 < tidAndList.length; i += 2) {
            File thread = new File(tasks, tidAndList[i]);
            thread.mkdirs();
            Files.writeString(new File(thread, "status").toPath(), "Name:\tt\nCpus_allowed_list:\t" + tidAndList[i + 1] + "\n");
            Files.writeString(new File(thread, "comm").toPath(), "thread-" + tidAndList[i] + "\n");
        }
        return tasks;
    }

    /**
     * A taskset that checks its arguments (-a -p MASK PID) and sets every fake thread's list from the mask
     * (2 → "1", 3 → "0-1"); with `exit` other than 0 it fails as util-linux's does, changing nothing.
     */
    private String fakeTaskset(File tasks, long pid, int exit, String log) throws Exception {
        File script = new File(folder.getRoot(), "taskset-" + exit);
        Files.writeString(script.toPath(), "#!/bin/sh\n"
                + "echo \"$@\" >> " + log + "\n"
                + "[ \"$1 $2 $4\" = \"-a -p " + pid + "\" ] || { echo \"bad arguments: $*\" >&2; exit 2; }\n"
                + (exit != 0 ? "echo \"taskset: failed to set pid " + pid + "'s affinity: Invalid argument\" >&2; exit " + exit + "\n" : "")
                + "case $3 in 2) list=1;; 3) list=0-1;; *) list=0-1;; esac\n"
                + "for d in " + tasks + "/*; do\n"
                + "  echo \"pid ${d##*/}'s new affinity mask: $3\"\n"
                + "  printf 'Name:\\tt\\nCpus_allowed_list:\\t%s\\n' $list > $d/status\n"
                + "done\n");
        assertTrue(script.setExecutable(true));
        return script.getAbsolutePath();
    }

    private static String firstLine(File file) throws Exception {
        return Files.readAllLines(file.toPath()).get(0);
    }

    @Test
    public void pinsEveryThreadChecksThemAndGivesTheCoresBack() throws Exception {
        assumeTrue("needs /bin/sh", new File("/bin/sh").canExecute());
        File tasks = tasks("100", "0-1", "101", "0-1");
        File log = new File(folder.getRoot(), "calls");
        ThreadPlacement threads = new ThreadPlacement(tasks);
        CpuPinning.Pinned pinned = CpuPinning.pin(fakeTaskset(tasks, 100, 0, log.getPath()), 100, List.of(1), threads);
        assertEquals(List.of(1), pinned.cores());
        assertEquals(List.of(0, 1), pinned.coresBefore());
        assertEquals("-a -p 2 100", firstLine(log));
        assertEquals(Map.of("100", Set.of(1), "101", Set.of(1)), threads.allowedCores());
        assertTrue(pinned.restore());
        assertEquals("-a -p 3 100", Files.readAllLines(log.toPath()).get(1));
        assertEquals(Map.of("100", Set.of(0, 1), "101", Set.of(0, 1)), threads.allowedCores());
    }

    @Test
    public void aTasksetThatFailsFailsThePinningWithWhatItPrinted() throws Exception {
        assumeTrue("needs /bin/sh", new File("/bin/sh").canExecute());
        File tasks = tasks("100", "0-1", "101", "0-1");
        String taskset = fakeTaskset(tasks, 100, 1, new File(folder.getRoot(), "calls").getPath());
        String message = assertThrows(ProfileLoop.ProfileException.class,
                () -> CpuPinning.pin(taskset, 100, List.of(7), new ThreadPlacement(tasks))).getMessage();
        assertEquals("cannot pin this process to cores [7] (run config cpus): `" + taskset + " -a -p 80 100` exited "
                + "with status 1 and printed: taskset: failed to set pid 100's affinity: Invalid argument; then the "
                + "threads' Cpus_allowed_list was 0-1 (2 threads). The chosen cores must be within those this app may "
                + "run on (0-1 before pinning; on Android the app's cpuset cgroup bounds them), and taskset must be "
                + "runnable", message);
        List<String> calls = Files.readAllLines(new File(folder.getRoot(), "calls").toPath());
        // this fake taskset fails every call: the restore is tried as often as the pinning
        assertEquals("tried " + CpuPinning.ATTEMPTS + " times, then tried to give the cores back: " + calls,
                2 * CpuPinning.ATTEMPTS, calls.size());
        assertEquals("-a -p 80 100", calls.get(CpuPinning.ATTEMPTS - 1));
        assertEquals("-a -p 3 100", calls.get(calls.size() - 1));
    }

    @Test
    public void aThreadTheKernelDidNotPinFailsThePinningNamingIt() throws Exception {
        assumeTrue("needs /bin/sh", new File("/bin/sh").canExecute());
        File tasks = tasks("100", "0-3", "101", "0-3");
        File script = new File(folder.getRoot(), "taskset-partial");
        // what a cpuset without core 3 does to a mask of cores 2 and 3: keeps 2, silently (thread 101 ran away)
        Files.writeString(script.toPath(), "#!/bin/sh\nprintf 'Name:\\tt\\nCpus_allowed_list:\\t2\\n' > "
                + tasks + "/100/status\necho \"pid 100's new affinity mask: 4\"\n");
        assertTrue(script.setExecutable(true));
        String message = assertThrows(ProfileLoop.ProfileException.class,
                () -> CpuPinning.pin(script.getPath(), 100, List.of(2, 3), new ThreadPlacement(tasks))).getMessage();
        assertTrue(message, message.startsWith("cannot pin this process to cores [2, 3] (run config cpus): `"
                + script.getPath() + " -a -p c 100` succeeded and printed: pid 100's new affinity mask: 4; then the "
                + "threads' Cpus_allowed_list was 2 (1 thread: 100 thread-100), 0-3 (1 thread: 101 thread-101). "
                + "The chosen cores must be within those this app may run on (0-3 before pinning;"));
    }

    @Test
    public void noTasksetIsAOneLineFailure() throws Exception {
        File tasks = tasks("100", "0-1");
        String missing = new File(folder.getRoot(), "no-such-taskset").getPath();
        String message = assertThrows(ProfileLoop.ProfileException.class,
                () -> CpuPinning.pin(missing, 100, List.of(1), new ThreadPlacement(tasks))).getMessage();
        assertTrue(message, message.startsWith("cannot pin this process to cores [1] (run config cpus): `" + missing
                + " -a -p 2 100` cannot be run ("));
        assertTrue(message, message.contains("taskset is toybox's on Android, /system/bin/taskset, and util-linux's on Linux"));
        assertFalse(message.contains("\n"));
    }

    @Test
    public void aLoadThatMovedThreadsOffThePinnedCoresIsCaught() throws Exception {
        File tasks = tasks("100", "1", "101", "1");
        CpuPinning.checkStillPinned(List.of(1, 2), new ThreadPlacement(tasks)); // narrower is still pinned
        File runaway = new File(tasks, "102");
        runaway.mkdirs();
        Files.writeString(new File(runaway, "status").toPath(), "Cpus_allowed_list:\t0-7\n");
        String message = assertThrows(ProfileLoop.ProfileException.class,
                () -> CpuPinning.checkStillPinned(List.of(1), new ThreadPlacement(tasks))).getMessage();
        assertTrue(message, message.startsWith("the engine's runtime moved threads off the pinned cores [1]"));
        assertTrue(message, message.contains("0-7 (1 thread: 102)"));
    }

    /** The real thing on this JVM: util-linux taskset, every thread on core 1, a new thread too, then back. */
    @Test
    public void thisProcessAndTheThreadsItStartsLaterRunOnTheChosenCoreOnly() throws Exception {
        ProfileLoopTest.assumeTasksetAndCores(2);
        Set<Integer> before = ProfileLoopTest.allowedNow();
        assumeTrue("core 1 is not allowed to this process: " + before, before.contains(1));
        ThreadPlacement threads = new ThreadPlacement();
        CpuPinning.Pinned pinned = CpuPinning.pin("taskset", ProcessHandle.current().pid(), List.of(1), threads);
        try {
            for (Map.Entry<String, TreeSet<Integer>> thread : threads.allowedCores().entrySet()) {
                assertEquals("thread " + thread.getKey() + " " + threads.threadName(thread.getKey()),
                        Set.of(1), thread.getValue());
            }
            AtomicReference<TreeSet<Integer>> inherited = new AtomicReference<>();
            Thread later = new Thread(() -> inherited.set(
                    ThreadPlacement.parseCpuList(statusLine(new File("/proc/thread-self/status")))));
            later.start();
            later.join();
            assertEquals("a thread started after pinning inherits the mask", Set.of(1), inherited.get());
        } finally {
            assertTrue(pinned.restore());
        }
        assertEquals(before, ProfileLoopTest.allowedNow());
    }

    private static String statusLine(File status) {
        try {
            for (String line : Files.readAllLines(status.toPath())) {
                if (line.startsWith("Cpus_allowed_list:")) {
                    return line.substring("Cpus_allowed_list:".length());
                }
            }
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        throw new AssertionError("no Cpus_allowed_list in " + status);
    }
}
