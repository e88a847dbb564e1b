package dev.slmedge.profiler.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A daemon thread sampling memory every interval (and CPU state every ~0.5 s), plus a sample at
 * every phase boundary so short phases are never missed, all tagged with the current phase.
 * Times are milliseconds since the trace's monotonic origin.
 */
public final class Sampler {
    static final double CPU_EVERY_MS = 500.0;

    private final long originNs;
    private final long intervalNs;
    private final int cpuEvery;
    private final boolean enabled;
    private final MemoryReader memoryReader;
    private final CpuReader cpuReader;
    private final Platform platform;
    private final ThreadPlacement placement = new ThreadPlacement();
    private final List<Map<String, Object>> memory = new ArrayList<>();
    private final List<Map<String, Object>> cpu = new ArrayList<>();
    private final List<Map<String, Object>> markers = new ArrayList<>();
    private final Object probeLock = new Object();
    private volatile String phase = "idle";
    // A latch, not Thread.interrupt(): an interrupt would abort a /proc read mid-way.
    private final CountDownLatch stopSignal = new CountDownLatch(1);
    private Thread thread;

    public Sampler(long originNs, double intervalMs, boolean enabled, MemoryReader memoryReader,
                   CpuReader cpuReader, Platform platform) {
        this.originNs = originNs;
        this.intervalNs = Math.max(1, (long) (intervalMs * 1e6));
        this.cpuEvery = Math.max(1, (int) Math.round(CPU_EVERY_MS / intervalMs));
        this.enabled = enabled;
        this.memoryReader = memoryReader;
        this.cpuReader = cpuReader;
        this.platform = platform;
    }

    public long originNs() {
        return originNs;
    }

    public double nowMs() {
        return (System.nanoTime() - originNs) / 1e6;
    }

    public MemoryReader.Reading sample(boolean withPss) {
        Long pss = withPss ? platform.pssBytes() : null; // slow: outside the lock
        // Read, stamp and append under one lock, so samples from both threads stay in time order.
        synchronized (this) {
            MemoryReader.Reading reading = memoryReader.read();
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("t_ms", nowMs());
            entry.put("rss_bytes", reading.rssBytes());
            entry.put("hwm_bytes", reading.hwmBytes());
            entry.put("phase", phase);
            if (withPss) {
                entry.put("pss_bytes", pss);
            }
            memory.add(entry);
            return reading;
        }
    }

    /**
     * CPU frequency and temperature plus the platform's probes (thermal status, battery) and the cores the
     * process's threads ran on, appended to cpu_samples and returned: the cool-down and unplug gates judge
     * the same sample the trace keeps.
     */
    public Map<String, Object> sampleCpu() {
        // One reading at a time: the gate samples from the loop's thread while the sampler thread runs,
        // and the probes keep state (the thermal headroom cache); samples also stay in time order.
        synchronized (probeLock) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("t_ms", nowMs());
            entry.put("freq_khz", cpuReader.currentFrequenciesKhz());
            entry.put("temp_c", cpuReader.temperatureC());
            for (Platform.DeviceProbe probe : platform.probes()) {
                probe.addTo(entry);
            }
            Map<String, Integer> cores = placement.cores(); // left out where /proc/self/task cannot be listed
            if (cores != null) {
                entry.put("thread_cores", cores);
            }
            synchronized (this) {
                cpu.add(entry);
            }
            return entry;
        }
    }

    /** The run's first CPU sample (taken by start()), or null before it: the gate's starting temperature. */
    public synchronized Map<String, Object> firstCpuSample() {
        return cpu.isEmpty() ? null : cpu.get(0);
    }

    /** A phase boundary: a marker and an immediate memory sample (with PSS at the end). */
    public void mark(String phaseName, String event, Integer run) {
        if ("start".equals(event)) {
            phase = phaseName;
        }
        Map<String, Object> marker = new LinkedHashMap<>();
        marker.put("t_ms", nowMs());
        marker.put("phase", phaseName);
        marker.put("event", event);
        marker.put("run", run);
        synchronized (this) {
            markers.add(marker);
        }
        sample("end".equals(event));
        if ("end".equals(event)) {
            phase = "idle";
        }
    }

    public void start() {
        sampleCpu();
        if (!enabled) {
            return;
        }
        thread = new Thread(this::loop, "slm-edge-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        long next = System.nanoTime();
        try {
            for (int count = 0; ; count++) {
                next += intervalNs;
                long waitNs = next - System.nanoTime();
                if (waitNs <= 0) {
                    next = System.nanoTime(); // fell behind (descheduled): do not burst to catch up
                }
                if (stopSignal.await(Math.max(0, waitNs), TimeUnit.NANOSECONDS)) {
                    return;
                }
                sample(false);
                if (count % cpuEvery == 0) {
                    sampleCpu();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public void stop() {
        stopSignal.countDown();
        if (thread != null) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        sampleCpu();
    }

    /** Copies of the samples so far: memory, cpu, markers. */
    public synchronized List<List<Map<String, Object>>> snapshot() {
        return List.of(new ArrayList<>(memory), new ArrayList<>(cpu), new ArrayList<>(markers));
    }

    /** PSS of the latest phase-end sample (the sampler thread's own samples carry none). */
    public synchronized Object lastPss() {
        for (int i = memory.size() - 1; i >= 0; i--) {
            if (memory.get(i).containsKey("pss_bytes")) {
                return memory.get(i).get("pss_bytes");
            }
        }
        return null;
    }
}
