package dev.slmedge.profiler.core;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A detached run's start (run config unplug_wait; slm_edge/runner/cooldown.py's wait_until_unplugged,
 * judged the same way): before the model loads, wait until the device runs on battery, so the whole run,
 * load included, draws no charger current; then settle_s more while the user puts the phone down.
 *
 * <p>It reads the CPU sample's {@code plugged}, as the trace keeps it: on a phone BatteryProbe's
 * (BatteryManager.EXTRA_PLUGGED of the sticky ACTION_BATTERY_CHANGED broadcast, non-zero = plugged), on a
 * desktop JVM SysfsPowerProbe's (power_supply under SLM_EDGE_SYSFS_ROOT). A sample without a boolean
 * {@code plugged} is no sensor: the run starts at once.
 */
public final class UnplugGate {
    public static final double DEFAULT_SETTLE_S = 10.0;
    public static final double DEFAULT_POLL_S = 1.0;
    public static final String UNPLUGGED = "unplugged";
    public static final String TIMED_OUT = "timed_out";
    public static final String NO_SENSOR = "no_sensor";

    /** The run config's unplug_wait object. */
    public record Settings(double maxWaitS, double settleS, double pollS) {}

    private UnplugGate() {}

    /**
     * Poll `read` (a CPU sample) until {@code plugged} is false or max_wait_s has passed; once unplugged,
     * sleep settle_s. Returns the trace's record: waited_ms, outcome, settle_ms, plugged_before.
     */
    public static Map<String, Object> waitUntilUnplugged(Supplier<Map<String, Object>> read, Settings settings,
                                                         Cooldown.Clock clock) throws InterruptedException {
        long started = clock.nanoTime();
        Map<String, Object> sample = read.get();
        if (!(sample.get("plugged") instanceof Boolean before)) {
            return record(0.0, NO_SENSOR, 0.0, null);
        }
        long maxWaitNs = Math.round(settings.maxWaitS() * 1e9);
        long pollNs = Math.round(settings.pollS() * 1e9);
        // A later sample that lost its reading (null) is not "unplugged": keep waiting, as the runner does.
        while (!Boolean.FALSE.equals(sample.get("plugged"))) {
            long waitedNs = clock.nanoTime() - started;
            if (waitedNs >= maxWaitNs) {
                return record(waitedNs / 1e6, TIMED_OUT, 0.0, before);
            }
            clock.sleepNanos(Math.min(pollNs, Math.max(maxWaitNs - waitedNs, 0)));
            sample = read.get();
        }
        double waitedMs = (clock.nanoTime() - started) / 1e6;
        clock.sleepNanos(Math.round(settings.settleS() * 1e9));
        return record(waitedMs, UNPLUGGED, settings.settleS() * 1000, before);
    }

    /** The trace's top-level unplug_wait record, in the Linux runner's key order. */
    static Map<String, Object> record(double waitedMs, String outcome, double settleMs, Boolean pluggedBefore) {
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("waited_ms", waitedMs);
        record.put("outcome", outcome);
        record.put("settle_ms", settleMs);
        record.put("plugged_before", pluggedBefore);
        return record;
    }
}
