package dev.slmedge.profiler.onnx;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.slmedge.profiler.core.CpuReader;
import dev.slmedge.profiler.core.DesktopPlatform;
import dev.slmedge.profiler.core.Engine;
import dev.slmedge.profiler.core.EngineFactory;
import dev.slmedge.profiler.core.ProfileLoop;
import dev.slmedge.profiler.core.RunConfig;
import dev.slmedge.profiler.core.ThreadPlacement;
import dev.slmedge.profiler.core.TraceWriter;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The run config's cpus on the real onnxruntime (the desktop jar of the app's version): the loop pins the
 * whole process with taskset before the load (CpuPinning), so the intra-op pool thread onnxruntime starts
 * when the session is made inherits core 1, as every other thread; the trace's thread_cores show core 1
 * only; a core the machine lacks fails the run with taskset's words. The run gives the process its cores
 * back when it ends, so the other tests in this JVM are not slowed.
 */
public class OrtEnginePinningTest {
    private static final int VOCAB = 256;
    private static final int HIDDEN = 256;
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private static boolean tasksetOnPath() {
        for (String dir : String.valueOf(System.getenv("PATH")).split(File.pathSeparator)) {
            if (!dir.isEmpty() && new File(dir, "taskset").canExecute()) {
                return true;
            }
        }
        return false;
    }

    private static Set<Integer> allowedNow() {
        Set<Integer> union = new TreeSet<>();
        new ThreadPlacement().allowedCores().values().forEach(union::addAll);
        return union;
    }

    private ProfileLoop.Outcome sustainedRun(String cpus, EngineFactory engines) throws Exception {
        File artifact = new File(folder.getRoot(), "artifact");
        TinyOnnxModel.write(artifact, VOCAB, HIDDEN, 4);
        String sha = TraceWriter.sha256Hex(new File(artifact, "manifest.json"));
        String config = "{\"schema\": \"slm-edge/run-config\", \"schema_version\": 1, \"artifact\": {\"dir\": \"artifact\","
                + "\"model_file\": \"model.onnx\", \"engine\": \"onnxruntime\", \"manifest_sha256\": \"" + sha + "\","
                + "\"max_seq_len\": 256, \"vocab_size\": " + VOCAB + ", \"bos_id\": null, \"tokenizer_file\": null},"
                + "\"mode\": \"sustained\", \"sustained_s\": 1.5, \"prompt_lengths\": [128], \"decode_tokens\": 64,"
                + "\"repeats\": 1, \"warmup\": 0, \"threads\": [2], \"sample_interval_ms\": 10, \"cpus\": " + cpus + "}";
        File configFile = new File(folder.getRoot(), "run_config.json");
        Files.writeString(configFile.toPath(), config);
        RunConfig parsed = RunConfig.read(configFile);
        return new ProfileLoop(parsed, configFile, new File(folder.getRoot(), "trace"), engines,
                new DesktopPlatform(new CpuReader()), fields -> { }).run();
    }

    /** OrtEngine, and what /proc/self/task said at its first step (after the load: the pool exists). */
    private static final class Watched implements Engine {
        final OrtEngine engine = new OrtEngine(null, "desktop JVM test");
        final List<Map<String, TreeSet<Integer>>> atFirstStep = new ArrayList<>();

        @Override
        public void load(File artifactDir, JsonObject manifest, int threads) throws Exception {
            engine.load(artifactDir, manifest, threads);
        }

        @Override
        public float[] step(int[] tokens, int startPos) throws Exception {
            if (atFirstStep.isEmpty()) {
                atFirstStep.add(new ThreadPlacement().allowedCores());
            }
            return engine.step(tokens, startPos);
        }

        @Override
        public String describe() {
            return engine.describe();
        }

        @Override
        public void close() {
            engine.close();
        }
    }

    @Test
    public void everyThreadOnnxruntimeIncludedRunsOnCoreOneOnly() throws Exception {
        assumeTrue("needs 2 or more cores", Runtime.getRuntime().availableProcessors() >= 2);
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        assumeTrue("needs taskset on PATH", tasksetOnPath());
        Set<Integer> before = allowedNow();
        assumeTrue("core 1 is not allowed to this process: " + before, before.contains(1));
        Set<String> threadsBefore = new ThreadPlacement().allowedCores().keySet();
        Watched watched = new Watched();
        ProfileLoop.Outcome outcome = sustainedRun("[1]", engine -> watched);
        assertEquals(outcome.error(), "complete", outcome.status());

        // while the session was open, every thread of the process, the pool's included, was allowed core 1 only
        assertEquals(1, watched.atFirstStep.size());
        Map<String, TreeSet<Integer>> during = watched.atFirstStep.get(0);
        int started = 0;
        for (Map.Entry<String, TreeSet<Integer>> thread : during.entrySet()) {
            assertEquals("thread " + thread.getKey(), Set.of(1), thread.getValue());
            started += threadsBefore.contains(thread.getKey()) ? 0 : 1;
        }
        assertTrue("the run started threads (the sampler, onnxruntime's intra-op pool): " + started, started >= 2);

        JsonObject trace = JsonParser.parseString(Files.readString(outcome.trace().toPath())).getAsJsonObject();
        JsonObject software = trace.getAsJsonObject("software");
        assertEquals(JsonParser.parseString("[1]"), software.get("cpus_allowed"));
        assertEquals(JsonParser.parseString("{\"cores\": [1], \"scope\": \"process\"}"), software.get("cpu_pinning"));
        assertTrue(software.get("runtime").getAsString(), software.get("runtime").getAsString().contains("intra-op threads 2"));
        // every CPU sample from the load on counts threads on core 1 only (the pinning took a sample of its
        // own just before, so these count only what ran pinned), and some did run
        double loadStart = -1;
        for (JsonElement marker : trace.getAsJsonArray("phase_markers")) {
            JsonObject m = marker.getAsJsonObject();
            if ("load".equals(m.get("phase").getAsString()) && "start".equals(m.get("event").getAsString())) {
                loadStart = m.get("t_ms").getAsDouble();
                break;
            }
        }
        assertTrue(loadStart >= 0);
        int samples = 0;
        int onCoreOne = 0;
        for (JsonElement sample : trace.getAsJsonArray("cpu_samples")) {
            JsonObject s = sample.getAsJsonObject();
            if (s.get("t_ms").getAsDouble() < loadStart) {
                continue;
            }
            samples++;
            Set<String> cores = s.getAsJsonObject("thread_cores").keySet();
            assertTrue("sample at " + s.get("t_ms") + " ms: thread_cores " + cores, Set.of("1").containsAll(cores));
            onCoreOne += cores.contains("1") ? 1 : 0;
        }
        assertTrue("CPU samples after the load: " + samples + ", with a thread on core 1: " + onCoreOne,
                samples >= 3 && onCoreOne >= 2);
        assertEquals("the run gives the process its cores back", before, allowedNow());
    }

    @Test
    public void aCoreThatDoesNotExistFailsTheRunBeforeTheLoad() throws Exception {
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        assumeTrue("needs taskset on PATH", tasksetOnPath());
        assumeTrue("needs fewer than 65 cores", Runtime.getRuntime().availableProcessors() <= 64);
        Set<Integer> before = allowedNow();
        Watched watched = new Watched();
        ProfileLoop.Outcome outcome = sustainedRun("[64]", engine -> watched);
        assertEquals("failed", outcome.status());
        String error = outcome.error();
        assertTrue(error, error.startsWith("cannot pin this process to cores [64] (run config cpus): `taskset -a -p "
                + "10000000000000000 " + ProcessHandle.current().pid() + "` exited with status 1 and printed: "));
        assertTrue(error, error.contains("Invalid argument"));
        assertTrue(error, error.contains("The chosen cores must be within those this app may run on"));
        JsonObject trace = JsonParser.parseString(Files.readString(outcome.trace().toPath())).getAsJsonObject();
        assertEquals(0, trace.getAsJsonArray("loads").size());
        assertFalse(trace.getAsJsonObject("software").has("cpu_pinning"));
        assertTrue(watched.atFirstStep.isEmpty());
        assertEquals(before, allowedNow());
    }
}
