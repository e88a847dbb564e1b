package dev.slmedge.profiler.core;

import java.util.List;
import java.util.Map;

/** What differs between the phone and a desktop JVM: device facts, PSS, extra probes, producer. */
public interface Platform {
    /** The trace's device block: model, cpu, soc, abi, cores, cpu_max_freq_khz, ram_bytes, os, emulated. */
    Map<String, Object> deviceFacts();

    /** Proportional set size in bytes, or null; called at phase ends only (it can be slow). */
    Long pssBytes();

    /** Extra readings added to each CPU sample (thermal status, battery current, ...). */
    List<DeviceProbe> probes();

    /** Extra clocks read at trace start, so other clocks' timestamps can be mapped onto ours. */
    Map<String, Object> clockExtras();

    /** Software versions for the trace (OS build, runtime libraries). */
    Map<String, Object> software();

    String producerName();

    String producerVersion();

    /**
     * This process's id, for {@code taskset -a -p MASK PID} (CpuPinning): ProcessHandle.current().pid() on a
     * desktop JVM (Java 9+), android.os.Process.myPid() on a phone (java.lang.ProcessHandle is not in
     * Android's API).
     */
    long processId();

    /**
     * The taskset command that pins this process (run config cpus, CpuPinning): util-linux taskset(1) on a
     * desktop, found on PATH; toybox's on a phone.
     */
    default String taskset() {
        return "taskset";
    }

    /** One reading source sampled alongside CPU frequency; must not throw. */
    interface DeviceProbe {
        void addTo(Map<String, Object> sample);
    }
}
