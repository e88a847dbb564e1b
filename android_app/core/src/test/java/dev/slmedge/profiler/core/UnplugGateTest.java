package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import org.junit.Test;

/** Scripted plug states on a clock that moves only when the gate sleeps (as CooldownTest, and cooldown.py's tests). */
public class UnplugGateTest {
    private static final long SECOND = 1_000_000_000L;

    private final CooldownTest.FakeClock clock = new CooldownTest.FakeClock();
    private final long start = clock.now;
    private int reads;

    /** CPU samples from a script of whole seconds since the gate started → the sample's plugged value. */
    private Map<String, Object> gate(LongFunction<Object> plugged, UnplugGate.Settings settings)
            throws InterruptedException {
        return UnplugGate.waitUntilUnplugged(() -> {
            reads++;
            return sample(plugged.apply((clock.now - start) / SECOND));
        }, settings, clock);
    }

    /** A sample as SysfsPowerProbe or BatteryProbe leave it: no plugged key at all when there is no reading. */
    private static Map<String, Object> sample(Object plugged) {
        Map<String, Object> sample = new HashMap<>();
        sample.put("t_ms", 1.0);
        sample.put("temp_c", 40.0);
        if (plugged != NONE) {
            sample.put("plugged", plugged);
        }
        return sample;
    }

    private static final Object NONE = new Object();

    @Test
    public void alreadyOnBatteryStartsAfterTheSettleTime() throws Exception {
        Map<String, Object> result = gate(s -> false, new UnplugGate.Settings(600, 10, 1));
        assertEquals(UnplugGate.record(0.0, "unplugged", 10_000.0, false), result);
        assertEquals(List.of(10 * SECOND), clock.sleeps); // the settle time only
        assertEquals(1, reads);
        assertEquals(List.of("waited_ms", "outcome", "settle_ms", "plugged_before"), new ArrayList<>(result.keySet()));
    }

    @Test
    public void waitsUntilUnpluggedThenSettles() throws Exception {
        // plugged for the first 3 s, polled every second: unplugged at the 4th read
        Map<String, Object> result = gate(s -> s < 3, new UnplugGate.Settings(600, 2.5, 1));
        assertEquals(UnplugGate.record(3000.0, "unplugged", 2500.0, true), result);
        assertEquals(List.of(SECOND, SECOND, SECOND, 2 * SECOND + SECOND / 2), clock.sleeps);
        assertEquals(4, reads);
    }

    @Test
    public void aLostReadingIsNotUnplugged() throws Exception {
        // a probe that failed once (null) keeps the gate waiting, as the runner's `is not False`
        Map<String, Object> result = gate(s -> s == 0 ? Boolean.TRUE : s < 2 ? null : Boolean.FALSE,
                new UnplugGate.Settings(600, 0, 0.5));
        assertEquals(UnplugGate.record(2000.0, "unplugged", 0.0, true), result);
        assertEquals(5, reads); // every 0.5 s: 0 and 0.5 plugged, 1 and 1.5 no reading, 2 unplugged
    }

    @Test
    public void stillPluggedAtMaxWaitTimesOutWithoutSettling() throws Exception {
        Map<String, Object> result = gate(s -> true, new UnplugGate.Settings(2.5, 10, 1));
        assertEquals(UnplugGate.record(2500.0, "timed_out", 0.0, true), result);
        assertEquals(List.of(SECOND, SECOND, SECOND / 2), clock.sleeps); // the last poll cut to max_wait_s, no settle
        // max_wait_s 0: one look, no wait
        clock.sleeps.clear();
        assertEquals(UnplugGate.record(0.0, "timed_out", 0.0, true), gate(s -> true, new UnplugGate.Settings(0, 10, 1)));
        assertEquals(List.of(), clock.sleeps);
    }

    @Test
    public void noPlugStateIsNoSensorAndStartsAtOnce() throws Exception {
        Map<String, Object> result = gate(s -> NONE, new UnplugGate.Settings(600, 10, 1));
        assertEquals(UnplugGate.record(0.0, "no_sensor", 0.0, null), result);
        assertEquals(List.of(), clock.sleeps);
        assertEquals(1, reads);
        // a plugged value that is not a boolean is no reading either (BatteryProbe writes null when it has none)
        assertEquals("no_sensor", gate(s -> null, new UnplugGate.Settings(600, 10, 1)).get("outcome"));
        assertEquals("no_sensor", gate(s -> 1, new UnplugGate.Settings(600, 10, 1)).get("outcome"));
        assertEquals(List.of(), clock.sleeps);
    }
}
