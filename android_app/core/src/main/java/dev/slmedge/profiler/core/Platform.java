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

    /** One reading source sampled alongside CPU frequency; must not throw. */
    interface DeviceProbe {
        void addTo(Map<String, Object> sample);
    }
}
