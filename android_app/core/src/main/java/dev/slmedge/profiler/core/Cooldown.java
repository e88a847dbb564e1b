package dev.slmedge.profiler.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The cool-down gate (slm_edge/runner/cooldown.py, judged the same way): before a measured repeat,
 * wait until the device is cool again, so each repeat starts from the same thermal state. Cool means
 * thermal status 0 where the device reports one, and the temperature at or below temp_c, or within
 * within_c of the temperature when the run started; at most max_wait_s.
 */
public final class Cooldown {
    public static final double DEFAULT_POLL_S = 1.0;
    public static final String COOL = "cool";
    public static final String TIMED_OUT = "timed_out";
    public static final String NO_SENSOR = "no_sensor";

    /** The run config's cooldown object; tempC and withinC null when not given. */
    public record Settings(double maxWaitS, Double tempC, Double withinC, double pollS) {}

    /** A monotonic clock that can also wait: the system's, or a test's that only moves when asked. */
    public interface Clock {
        long nanoTime();

        void sleepNanos(long nanos) throws InterruptedException;
    }

    public static final Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }

        @Override
        public void sleepNanos(long nanos) throws InterruptedException {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        }
    };

    private Cooldown() {}

    /** The reading the gate judges: the CPU's hottest zone, else the battery's. */
    public static Double temperatureOf(Map<String, Object> sample) {
        for (String key : new String[] {"temp_c", "battery_temp_c"}) {
            if (sample.get(key) instanceof Number number) {
                return number.doubleValue();
            }
        }
        return null;
    }

    /** An integer thermal status (0 none … 6 shutdown), or null where the sample has none. */
    static Number thermalStatusOf(Map<String, Object> sample) {
        Object status = sample.get("thermal_status");
        return status instanceof Integer || status instanceof Long || status instanceof Short
                || status instanceof Byte ? (Number) status : null;
    }

    /** Whether the sample is cool, and the temperature it must reach (null: no threshold applies). */
    record Verdict(boolean cool, Double targetC) {}

    static Verdict judge(Map<String, Object> sample, Settings settings, Double startTempC) {
        Number status = thermalStatusOf(sample);
        if (status != null && status.longValue() > 0) {
            return new Verdict(false, null);
        }
        List<Double> targets = new ArrayList<>(2);
        if (settings.tempC() != null) {
            targets.add(settings.tempC());
        }
        if (settings.withinC() != null && startTempC != null) {
            targets.add(startTempC + settings.withinC());
        }
        Double target = targets.isEmpty() ? null : Collections.min(targets);
        Double temp = temperatureOf(sample);
        if (temp == null || target == null) {
            return new Verdict(true, target);
        }
        return new Verdict(temp <= target, target);
    }

    /**
     * Poll `read` (a CPU sample) until cool or max_wait_s has passed; returns the trace's record:
     * waited_ms, outcome (cool, timed_out, or no_sensor when nothing can be judged), temperatures.
     */
    public static Map<String, Object> waitUntilCool(Supplier<Map<String, Object>> read, Settings settings,
                                                    Double startTempC, Clock clock) throws InterruptedException {
        long started = clock.nanoTime();
        Map<String, Object> first = read.get();
        Double before = temperatureOf(first);
        if (before == null && thermalStatusOf(first) == null) {
            return record(0.0, NO_SENSOR, null, null, null, null);
        }
        long maxWaitNs = Math.round(settings.maxWaitS() * 1e9);
        long pollNs = Math.round(settings.pollS() * 1e9);
        Map<String, Object> sample = first;
        while (true) {
            Verdict verdict = judge(sample, settings, startTempC);
            long waitedNs = clock.nanoTime() - started;
            if (verdict.cool() || waitedNs >= maxWaitNs) {
                return record(waitedNs / 1e6, verdict.cool() ? COOL : TIMED_OUT, before, temperatureOf(sample),
                        verdict.targetC(), thermalStatusOf(sample));
            }
            clock.sleepNanos(Math.min(pollNs, Math.max(maxWaitNs - waitedNs, 0)));
            sample = read.get();
        }
    }

    /** The trace's gate record (runs[].cooldown), in the Linux runner's key order. */
    static Map<String, Object> record(double waitedMs, String outcome, Double before, Double after,
                                              Double target, Number thermalStatus) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("waited_ms", waitedMs);
        record.put("outcome", outcome);
        record.put("temp_c_before", before);
        record.put("temp_c_after", after);
        record.put("target_c", target);
        record.put("thermal_status", thermalStatus);
        return record;
    }
}
