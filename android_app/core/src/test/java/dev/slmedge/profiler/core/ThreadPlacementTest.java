package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ThreadPlacementTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    /** A /proc/PID/task/TID/stat line (proc(5)): pid, (comm), then state … with utime, stime and processor set. */
    private void stat(File tasks, String tid, String comm, long utime, long stime, int processor) throws Exception {
        String[] rest = new String[50]; // fields 3 … 52
        Arrays.fill(rest, "0");
        rest[0] = "S";
        rest[11] = Long.toString(utime);
        rest[12] = Long.toString(stime);
        rest[36] = Integer.toString(processor);
        File dir = new File(tasks, tid);
        dir.mkdirs();
        Files.writeString(new File(dir, "stat").toPath(), tid + " (" + comm + ") " + String.join(" ", rest) + "\n");
    }

    @Test
    public void countsThreadsWhoseCpuTimeGrewByTheCoreTheyLastRanOn() throws Exception {
        File tasks = folder.newFolder("task");
        stat(tasks, "100", "java", 50, 3, 1);
        stat(tasks, "101", "a (weird) comm) 7", 0, 0, 0); // never ran; comm may hold ") " (the last ")" ends it)
        stat(tasks, "102", "pool", 1, 0, 1);
        ThreadPlacement placement = new ThreadPlacement(tasks);
        assertEquals(Map.of("1", 2), placement.cores()); // first call: any CPU time at all
        stat(tasks, "100", "java", 50, 3, 0); // idle since: not counted, wherever it sits
        stat(tasks, "101", "a (weird) comm) 7", 0, 2, 0);
        stat(tasks, "102", "pool", 9, 1, 3);
        assertEquals(Map.of("0", 1, "3", 1), placement.cores());
        assertEquals(Map.of(), placement.cores());
        new File(tasks, "102/stat").delete(); // a thread that ended between the listing and the read
        stat(tasks, "103", "new", 0, 1, 2);
        assertEquals(Map.of("2", 1), placement.cores());
    }

    @Test
    public void noTaskListingIsNoReading() {
        assertNull(new ThreadPlacement(new File(folder.getRoot(), "absent")).cores());
    }

    @Test
    public void aBusyThreadOfThisProcessShowsOnARealCore() throws Exception {
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        ThreadPlacement placement = new ThreadPlacement();
        Map<String, Integer> first = placement.cores();
        assertNotNull(first);
        assertFalse("this JVM has used CPU: " + first, first.isEmpty());
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch spun = new CountDownLatch(1);
        Thread busy = new Thread(() -> {
            long end = System.nanoTime() + 200_000_000L; // several clock ticks (USER_HZ 100: 10 ms each)
            double x = 0;
            while (System.nanoTime() < end) {
                x += Math.sqrt(x + 1);
            }
            spun.countDown();
            while (!stop.get() && x > 0) {
                Thread.onSpinWait(); // stays alive (and busy) until read: an ended thread leaves /proc/self/task
            }
        }, "busy");
        busy.start();
        try {
            spun.await();
            Map<String, Integer> cores = placement.cores();
            int processors = Runtime.getRuntime().availableProcessors();
            assertTrue("no thread used CPU: " + cores, cores.values().stream().mapToInt(Integer::intValue).sum() >= 1);
            for (Map.Entry<String, Integer> core : cores.entrySet()) {
                int number = Integer.parseInt(core.getKey());
                assertTrue(core + " is not a core of " + processors, number >= 0 && number < processors);
                assertTrue(core.getValue() >= 1);
            }
        } finally {
            stop.set(true);
            busy.join();
        }
    }

    @Test
    public void readsEachThreadsAllowedCores() throws Exception {
        assertEquals(new TreeSet<>(Set.of(0, 1, 2, 3, 5)), ThreadPlacement.parseCpuList("0-3,5\n"));
        assertEquals(new TreeSet<>(Set.of(1)), ThreadPlacement.parseCpuList("\t1"));
        assertNull(ThreadPlacement.parseCpuList("ff"));
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        Map<String, TreeSet<Integer>> allowed = new ThreadPlacement().allowedCores();
        assertFalse(allowed.isEmpty());
        int processors = Runtime.getRuntime().availableProcessors();
        for (TreeSet<Integer> cores : allowed.values()) {
            assertFalse(cores.isEmpty());
            assertTrue(cores + " outside 0.." + (processors - 1), cores.last() < Math.max(processors, 1024));
        }
    }
}
