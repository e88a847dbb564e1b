package dev.slmedge.profiler;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import android.app.Application;
import android.content.Context;
import android.os.Bundle;
import android.os.PowerManager;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.slmedge.profiler.core.Contract;
import dev.slmedge.profiler.core.Engine;
import dev.slmedge.profiler.core.EngineFactory;
import dev.slmedge.profiler.core.RunConfig;
import dev.slmedge.profiler.core.TinyEngine;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.RuntimeEnvironment;
import org.robolectric.annotation.Config;
import org.robolectric.shadow.api.Shadow;
import org.robolectric.shadows.ShadowPowerManager;

/**
 * The instrumentation as `am instrument -w -r -e ...` drives it: arguments in, status blocks and
 * one result out (keys and codes of Contract / slm_edge/contract.py), with a real ProfileLoop
 * on core's TinyEngine so the trace it reports is a real one.
 */
@RunWith(RobolectricTestRunner.class)
@Config(sdk = 36)
public class ProfilerInstrumentationTest {
    @Rule public TemporaryFolder temp = new TemporaryFolder();

    private Application app;

    @Before
    public void setUp() {
        app = RuntimeEnvironment.getApplication();
    }

    /**
     * Records what the instrumentation hands to Instrumentation.sendStatus and finish: on a phone
     * those reach `am instrument`, which prints them as INSTRUMENTATION_STATUS / _RESULT / _CODE.
     * The contexts are the app's, as ActivityThread gives an instrumentation whose targetPackage is
     * its own package (AndroidManifest.xml).
     */
    static final class Recorder extends ProfilerInstrumentation {
        final List<Bundle> statuses = Collections.synchronizedList(new ArrayList<>());
        final List<Integer> statusCodes = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch finished = new CountDownLatch(1);
        volatile Integer code;
        volatile Bundle result;
        private final Context context;
        private final EngineFactory engines;

        Recorder(Context context, EngineFactory engines) {
            this.context = context;
            this.engines = engines;
        }

        @Override
        public Context getContext() {
            return context;
        }

        @Override
        public Context getTargetContext() {
            return context;
        }

        @Override
        protected EngineFactory engines() {
            return engines;
        }

        /** Robolectric loads an app's assets only from an aapt2-built resource APK, which cannot be built here. */
        @Override
        protected InputStream openIdentityAsset() throws IOException {
            return testAsset();
        }

        @Override
        public void sendStatus(int resultCode, Bundle results) {
            statusCodes.add(resultCode);
            statuses.add(new Bundle(results));
        }

        @Override
        public void finish(int resultCode, Bundle results) {
            code = resultCode;
            result = new Bundle(results);
            finished.countDown();
        }

        Recorder launch(Bundle arguments) throws InterruptedException {
            onCreate(arguments); // starts the instrumentation thread, as ActivityThread does
            assertTrue("the instrumentation did not finish within 120 s", finished.await(120, TimeUnit.SECONDS));
            return this;
        }
    }

    /** TinyEngine for every engine name: a real (small) transformer, no native runtime. */
    static final class TinyEngines implements EngineFactory {
        @Override
        public Engine create(String engine) {
            return new TinyEngine(512, 128, 0);
        }

        @Override
        public String implementation() {
            return "TinyEngine (Robolectric test)";
        }
    }

    private static Bundle arguments(String... keyValues) {
        Bundle bundle = new Bundle();
        for (int i = 0; i + 1 < keyValues.length; i += 2) {
            bundle.putString(keyValues[i], keyValues[i + 1]);
        }
        return bundle;
    }

    private static Map<String, String> fields(Bundle bundle) {
        Map<String, String> out = new HashMap<>();
        for (String key : bundle.keySet()) {
            out.put(key, bundle.getString(key));
        }
        return out;
    }

    /** A run config as the host writes it (tests/test_android_core.py's, smaller). */
    private File runConfig(int repeats) throws Exception {
        File artifact = temp.newFolder("artifacts", "tiny");
        File manifest = new File(artifact, "manifest.json");
        Files.writeString(manifest.toPath(), "{\"schema\": \"slm-edge/manifest\", \"model_file\": \"model.pte\"}");
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(manifest.toPath())));
        File config = new File(temp.newFolder("run"), "run_config.json");
        Files.writeString(config.toPath(), "{\"schema\": \"slm-edge/run-config\", \"schema_version\": "
                + Contract.CONFIG_SCHEMA_VERSION + ", \"artifact\": {\"dir\": \"../artifacts/tiny\", \"model_file\": "
                + "\"model.pte\", \"engine\": \"executorch\", \"manifest_sha256\": \"" + sha + "\", \"max_seq_len\": 128, "
                + "\"vocab_size\": 512, \"bos_id\": 1, \"tokenizer_file\": null}, \"mode\": \"steps\", "
                + "\"prompt_lengths\": [8], \"decode_tokens\": 6, \"repeats\": " + repeats + ", \"warmup\": 1, "
                + "\"threads\": [1], \"sample_interval_ms\": 5.0, \"memory_sampling\": true, \"ops\": false, "
                + "\"seed\": 0, \"trace_file\": \"trace.json\"}");
        return config;
    }

    /** The identity asset as app/build.gradle.kts writes it (android-check/src/test/resources, filled in by Maven). */
    static InputStream testAsset() throws IOException {
        InputStream in = ProfilerInstrumentationTest.class.getResourceAsStream("/" + AppIdentity.ASSET);
        if (in == null) {
            throw new IOException(AppIdentity.ASSET + " is not on the test classpath");
        }
        return in;
    }

    private static JsonObject identityAsset() throws Exception {
        try (InputStream in = testAsset()) {
            return JsonParser.parseReader(new InputStreamReader(in, StandardCharsets.UTF_8)).getAsJsonObject();
        }
    }

    @Test
    public void profileRunReportsTheTraceUnderTheExternalFilesDir() throws Exception {
        File config = runConfig(2);
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(
                arguments(Contract.EXTRA_CONFIG, config.getAbsolutePath(), Contract.EXTRA_RUN_ID, "r-1.a"));

        Map<String, String> result = fields(instrumentation.result);
        assertEquals(result.toString(), Integer.valueOf(Contract.CODE_COMPLETE), instrumentation.code);
        assertEquals("complete", result.get(Contract.RESULT_STATUS));
        assertFalse(result.containsKey(Contract.RESULT_ERROR));
        // What Context.getExternalFilesDir(null) answers, canonical (the host compares canonical paths)
        File externalFiles = app.getExternalFilesDir(null).getCanonicalFile();
        File trace = new File(externalFiles, "runs/r-1.a/trace.json");
        assertEquals(trace.getPath(), result.get(Contract.RESULT_TRACE));
        assertTrue(trace.isFile());
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(trace.toPath())));
        assertEquals(sha, result.get(Contract.RESULT_TRACE_SHA256));

        // One status block per phase, each closed by code 1; the first is the first load.
        assertFalse(instrumentation.statuses.isEmpty());
        assertTrue(instrumentation.statusCodes.stream().allMatch(c -> c == 1));
        assertEquals(Map.of("phase", "load", "threads", "1"), fields(instrumentation.statuses.get(0)));
        long measured = instrumentation.statuses.stream().filter(s -> "run".equals(s.getString("phase"))).count();
        assertEquals(2, measured);

        JsonObject written = JsonParser.parseString(Files.readString(trace.toPath())).getAsJsonObject();
        assertEquals("complete", written.get("status").getAsString());
        assertEquals(1 + 2, written.getAsJsonArray("runs").size());
        JsonObject identity = identityAsset();
        JsonObject software = written.getAsJsonObject("software");
        assertEquals(identity.getAsJsonObject("runtimes").get("executorch").getAsString(),
                software.get("executorch").getAsString());
        assertEquals(identity.getAsJsonObject("runtimes").get("onnxruntime").getAsString(),
                software.get("onnxruntime").getAsString());
        assertEquals(identity.get("version_name").getAsString() + " (" + identity.get("version_code").getAsInt() + ")",
                software.get("app").getAsString());
        assertEquals("TinyEngine (Robolectric test)", software.get("engine_implementation").getAsString());
        assertEquals("slm-edge-profiler-app", written.getAsJsonObject("producer").get("name").getAsString());
        JsonArray cpu = written.getAsJsonArray("cpu_samples");
        assertTrue(cpu.size() > 0);
        for (JsonElement sample : cpu) {
            assertTrue(sample.toString(), sample.getAsJsonObject().has("thermal_status"));
        }
        String out = System.getProperty("slmedge.trace.out");
        if (out != null) { // tests/test_android_build.py checks it with the host's schema and analysis
            Files.createDirectories(new File(out).getAbsoluteFile().getParentFile().toPath());
            Files.copy(trace.toPath(), new File(out).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    @Test
    public void identityQueryAnswersTheAssetOnOneLineAndRunsNothing() throws Exception {
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(
                arguments(Contract.EXTRA_QUERY, Contract.QUERY_IDENTITY));

        assertEquals(Integer.valueOf(Contract.CODE_COMPLETE), instrumentation.code);
        Map<String, String> result = fields(instrumentation.result);
        assertEquals(Collections.singleton(Contract.RESULT_IDENTITY), result.keySet());
        String line = result.get(Contract.RESULT_IDENTITY);
        assertFalse(line.contains("\n"));
        JsonObject answered = JsonParser.parseString(line).getAsJsonObject();
        assertEquals(identityAsset(), answered);
        assertEquals(Contract.PACKAGE, answered.get("package").getAsString());
        assertFalse(answered.getAsJsonObject("features").get("executorch_etdump").getAsBoolean());
        assertTrue(instrumentation.statuses.isEmpty());
        assertFalse(new File(app.getExternalFilesDir(null), "runs").exists());
    }

    @Test
    public void unknownQueryFailsInOneLine() throws Exception {
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(arguments(Contract.EXTRA_QUERY, "version"));
        assertEquals(Integer.valueOf(Contract.CODE_NOT_COMPLETE), instrumentation.code);
        assertEquals("failed", instrumentation.result.getString(Contract.RESULT_STATUS));
        assertTrue(instrumentation.result.getString(Contract.RESULT_ERROR).startsWith("unknown query version"));
    }

    @Test
    public void missingExtrasFailWithCodeZero() throws Exception {
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(arguments(Contract.EXTRA_RUN_ID, "r1"));
        assertEquals(Integer.valueOf(Contract.CODE_NOT_COMPLETE), instrumentation.code);
        assertEquals("failed", instrumentation.result.getString(Contract.RESULT_STATUS));
        assertEquals("missing extras: pass -e config <run_config.json> -e run_id <id>",
                instrumentation.result.getString(Contract.RESULT_ERROR));
        assertNull(instrumentation.result.getString(Contract.RESULT_TRACE));
    }

    @Test
    public void runIdThatIsNotAPlainNameIsRefused() throws Exception {
        File config = runConfig(1);
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(
                arguments(Contract.EXTRA_CONFIG, config.getAbsolutePath(), Contract.EXTRA_RUN_ID, "../escape"));
        assertEquals(Integer.valueOf(Contract.CODE_NOT_COMPLETE), instrumentation.code);
        assertTrue(instrumentation.result.getString(Contract.RESULT_ERROR).contains("is not a plain name"));
        assertFalse(new File(app.getExternalFilesDir(null), "escape").exists());
    }

    @Test
    public void badConfigFailsWithTheConfigsOneLineReason() throws Exception {
        File config = runConfig(1);
        Files.writeString(config.toPath(), Files.readString(config.toPath()).replace("\"repeats\": 1", "\"repeats\": 0"));
        Recorder instrumentation = new Recorder(app, new TinyEngines()).launch(
                arguments(Contract.EXTRA_CONFIG, config.getAbsolutePath(), Contract.EXTRA_RUN_ID, "r2"));
        assertEquals(Integer.valueOf(Contract.CODE_NOT_COMPLETE), instrumentation.code);
        assertEquals("run config field repeats must be between 1 and 1000, not 0",
                instrumentation.result.getString(Contract.RESULT_ERROR));
    }

    /** TinyEngine that records, at every step, whether the run's wake lock is held. */
    static final class WakeLockWatchingEngines implements EngineFactory {
        final List<Boolean> heldAtSteps = Collections.synchronizedList(new ArrayList<>());

        @Override
        public Engine create(String engine) {
            TinyEngine tiny = new TinyEngine(512, 128, 0);
            return new Engine() {
                @Override
                public void load(File artifactDir, JsonObject manifest, int threads) {
                    tiny.load(artifactDir, manifest, threads);
                }

                @Override
                public float[] step(int[] tokens, int startPos) throws Exception {
                    PowerManager.WakeLock lock = ShadowPowerManager.getLatestWakeLock();
                    heldAtSteps.add(lock != null && lock.isHeld());
                    return tiny.step(tokens, startPos);
                }

                @Override
                public String describe() {
                    return tiny.describe();
                }

                @Override
                public void close() {
                    tiny.close();
                }
            };
        }

        @Override
        public String implementation() {
            return "TinyEngine (Robolectric test)";
        }
    }

    @Test
    public void aRunHoldsAPartialWakeLockThroughoutAndReleasesItAfter() throws Exception {
        ShadowPowerManager.clearWakeLocks();
        File config = runConfig(1);
        WakeLockWatchingEngines engines = new WakeLockWatchingEngines();
        Recorder instrumentation = new Recorder(app, engines).launch(
                arguments(Contract.EXTRA_CONFIG, config.getAbsolutePath(), Contract.EXTRA_RUN_ID, "awake"));
        assertEquals(Integer.valueOf(Contract.CODE_COMPLETE), instrumentation.code);

        assertFalse(engines.heldAtSteps.isEmpty());
        assertTrue("the wake lock was not held at every step: " + engines.heldAtSteps,
                engines.heldAtSteps.stream().allMatch(held -> held));
        PowerManager.WakeLock lock = ShadowPowerManager.getLatestWakeLock();
        assertNotNull(lock);
        assertFalse("released when the run ended", lock.isHeld());
        ShadowPowerManager.ShadowWakeLock shadow = Shadow.extract(lock);
        assertEquals(ProfileSession.WAKE_LOCK_TAG, shadow.getTag());
        assertEquals(1, shadow.getTimesHeld());
        assertFalse(shadow.isReferenceCounted());
    }

    @Test
    public void aFailedRunReleasesItsWakeLockAndAQueryTakesNone() throws Exception {
        ShadowPowerManager.clearWakeLocks();
        Recorder query = new Recorder(app, new TinyEngines()).launch(arguments(Contract.EXTRA_QUERY, Contract.QUERY_IDENTITY));
        assertEquals(Integer.valueOf(Contract.CODE_COMPLETE), query.code);
        assertNull(ShadowPowerManager.getLatestWakeLock());

        File config = runConfig(1);
        EngineFactory failing = engine -> {
            throw new IllegalStateException("no engine here");
        };
        Recorder instrumentation = new Recorder(app, failing).launch(
                arguments(Contract.EXTRA_CONFIG, config.getAbsolutePath(), Contract.EXTRA_RUN_ID, "fails"));
        assertEquals(Integer.valueOf(Contract.CODE_NOT_COMPLETE), instrumentation.code);
        PowerManager.WakeLock lock = ShadowPowerManager.getLatestWakeLock();
        assertNotNull(lock);
        assertFalse(lock.isHeld());
    }

    @Test
    public void theWakeLocksTimeoutCoversEveryWaitTheConfigAllows() throws Exception {
        File file = runConfig(2);
        String plain = Files.readString(file.toPath());
        assertEquals(ProfileSession.WAKE_LOCK_BASE_MS, ProfileSession.wakeLockTimeoutMs(RunConfig.read(file)));
        // unplug wait (600 s + 10 s settling) and a cool-down gate of 60 s before each of the 2 measured repeats
        Files.writeString(file.toPath(), plain.replace("\"seed\": 0,", "\"seed\": 0, \"unplug_wait\": {\"max_wait_s\": 600}, "
                + "\"cooldown\": {\"max_wait_s\": 60},"));
        assertEquals(ProfileSession.WAKE_LOCK_BASE_MS + (600 + 10 + 2 * 60) * 1000L,
                ProfileSession.wakeLockTimeoutMs(RunConfig.read(file)));
    }
}
