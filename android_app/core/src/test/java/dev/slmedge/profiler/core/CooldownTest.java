package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import org.junit.Test;

/** Known answers for the gate, on a clock that moves only when the gate sleeps (as cooldown.py's tests). */
public class CooldownTest {
    private static final long SECOND = 1_000_000_000L;

    /** A test clock: nanoTime() is where the sleeps have taken it; each sleep is recorded. */
    static class FakeClock implements Cooldown.Clock {
        long now = 5 * SECOND; // not zero: waits are measured from the gate's start, not from the origin
        final List<Long> sleeps = new ArrayList<>();

        @Override
        public long nanoTime() {
            return now;
        }

        @Override
        public void sleepNanos(long nanos) {
            sleeps.add(nanos);
            now += nanos;
        }
    }

    private final FakeClock clock = new FakeClock();
    private final long start = clock.now;
    private int reads;

    /** CPU samples from a script of seconds since the gate started → sample. */
    private Map<String, Object> gate(LongFunction<Map<String, Object>> script, Cooldown.Settings settings,
                                     Double startTempC) throws InterruptedException {
        return Cooldown.waitUntilCool(() -> {
            reads++;
            return script.apply((clock.now - start) / SECOND);
        }, settings, startTempC, clock);
    }

    private static Map<String, Object> sample(Object tempC, Object thermalStatus) {
        Map<String, Object> sample = new HashMap<>();
        sample.put("t_ms", 1.0);
        sample.put("freq_khz", null);
        sample.put("temp_c", tempC);
        if (thermalStatus != null) {
            sample.put("thermal_status", thermalStatus);
        }
        return sample;
    }


    @Test
    public void waitsUntilTheTemperatureReachesTheTarget() throws Exception {
        Map<String, Object> result = gate(s -> sample(s < 3 ? 50.0 : 35.0, null),
                new Cooldown.Settings(60, 40.0, null, 1.0), 30.0);
        assertEquals(Cooldown.record(3000.0, "cool", 50.0, 35.0, 40.0, null), result);
        assertEquals(List.of(SECOND, SECOND, SECOND), clock.sleeps);
        assertEquals(4, reads);
        assertEquals(List.of("waited_ms", "outcome", "temp_c_before", "temp_c_after", "target_c", "thermal_status"),
                new ArrayList<>(result.keySet()));
    }

    @Test
    public void withinCountsFromTheStartTemperatureAndTheLowerTargetWins() throws Exception {
        // start 30 + within 5 = 35 is below temp_c 40: 38 °C is not cool yet, 34 is
        Map<String, Object> result = gate(s -> sample(s < 2 ? 38.0 : 34.0, null),
                new Cooldown.Settings(60, 40.0, 5.0, 0.5), 30.0);
        assertEquals(Cooldown.record(2000.0, "cool", 38.0, 34.0, 35.0, null), result);
        assertEquals(4, clock.sleeps.size()); // every 0.5 s
        // no start temperature: within_c has nothing to count from, temp_c alone decides
        assertEquals(Cooldown.record(0.0, "cool", 38.0, 38.0, 40.0, null),
                Cooldown.waitUntilCool(() -> sample(38.0, null), new Cooldown.Settings(60, 40.0, 5.0, 1.0), null, clock));
    }

    @Test
    public void timesOutAtMaxWaitWithAShorterLastSleep() throws Exception {
        Map<String, Object> result = gate(s -> sample(50.0, null), new Cooldown.Settings(2.5, 40.0, null, 1.0), null);
        assertEquals(Cooldown.record(2500.0, "timed_out", 50.0, 50.0, 40.0, null), result);
        assertEquals(List.of(SECOND, SECOND, SECOND / 2), clock.sleeps);
        // max_wait_s 0: one look, no wait
        clock.sleeps.clear();
        assertEquals(Cooldown.record(0.0, "timed_out", 50.0, 50.0, 40.0, null),
                gate(s -> sample(50.0, null), new Cooldown.Settings(0, 40.0, null, 1.0), null));
        assertEquals(List.of(), clock.sleeps);
    }

    @Test
    public void aThermalStatusAboveZeroBlocksEvenWhenTheTemperatureIsLow() throws Exception {
        Map<String, Object> result = gate(s -> sample(30.0, s < 2 ? 2 : 0), new Cooldown.Settings(60, 40.0, null, 1.0),
                null);
        assertEquals(Cooldown.record(2000.0, "cool", 30.0, 30.0, 40.0, 0), result);
        // throttled until the end: timed out, and no target applies while the status blocks
        assertEquals(Cooldown.record(3000.0, "timed_out", 30.0, 30.0, null, 3),
                gate(s -> sample(30.0, 3), new Cooldown.Settings(3, 40.0, null, 1.0), null));
    }

    @Test
    public void aThermalStatusAloneIsASensor() throws Exception {
        // an emulator: PowerManager answers, no thermal zone is readable
        Map<String, Object> result = gate(s -> sample(null, s < 1 ? 1 : 0), new Cooldown.Settings(60, 40.0, null, 1.0),
                null);
        assertEquals(Cooldown.record(1000.0, "cool", null, null, 40.0, 0), result);
    }

    @Test
    public void noTemperatureAndNoThermalStatusIsNoSensorWithoutWaiting() throws Exception {
        Map<String, Object> result = gate(s -> sample(null, null), new Cooldown.Settings(60, 40.0, null, 1.0), null);
        assertEquals(Cooldown.record(0.0, "no_sensor", null, null, null, null), result);
        assertEquals(1, reads);
        assertEquals(List.of(), clock.sleeps);
        // a thermal status that is not an integer is no status (a probe that failed wrote nothing usable)
        assertEquals("no_sensor", gate(s -> sample(null, "unknown"), new Cooldown.Settings(60, 40.0, null, 1.0), null)
                .get("outcome"));
    }

    @Test
    public void theBatteryTemperatureStandsInForTheCpus() throws Exception {
        Map<String, Object> battery = sample(null, null);
        battery.put("battery_temp_c", 31.5);
        assertEquals(31.5, Cooldown.temperatureOf(battery), 0);
        battery.put("temp_c", 45.0);
        assertEquals(45.0, Cooldown.temperatureOf(battery), 0); // the CPU's first
        Map<String, Object> result = gate(s -> {
            Map<String, Object> sample = sample(null, null);
            sample.put("battery_temp_c", s < 1 ? 36 : 33); // an integer reading counts too
            return sample;
        }, new Cooldown.Settings(60, 35.0, null, 1.0), null);
        assertEquals(Cooldown.record(1000.0, "cool", 36.0, 33.0, 35.0, null), result);
    }

    @Test
    public void withNoTargetAnyTemperatureIsCoolAndOnlyTheStatusMatters() {
        Cooldown.Settings none = new Cooldown.Settings(60, null, null, 1.0);
        assertTrue(Cooldown.judge(sample(90.0, null), none, null).cool());
        assertNull(Cooldown.judge(sample(90.0, null), none, null).targetC());
        assertFalse(Cooldown.judge(sample(20.0, 1), none, null).cool());
        assertTrue(Cooldown.judge(sample(40.0, 0L), new Cooldown.Settings(60, 40.0, null, 1.0), null).cool()); // at the target
    }
}
