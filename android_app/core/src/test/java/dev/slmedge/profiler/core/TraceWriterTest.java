package dev.slmedge.profiler.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class TraceWriterTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();
    private TraceWriter writer;
    private File file;

    @Before
    public void setUp() throws Exception {
        RunConfig config = RunConfig.parse(TestConfigs.valid().toString());
        file = new File(folder.getRoot(), "runs/r1/trace.json");
        writer = new TraceWriter(file, config, new DesktopPlatform(new CpuReader()), new MemoryReader.Reading(1000, 2000),
                null, System.nanoTime());
    }

    private JsonObject written() throws Exception {
        return JsonParser.parseString(Files.readString(file.toPath())).getAsJsonObject();
    }

    @Test
    public void writesEveryRequiredFieldAndCreatesTheFolder() throws Exception {
        writer.flush(null, null);
        JsonObject trace = written();
        for (String key : List.of("schema", "schema_version", "status", "producer", "device", "artifact", "config",
                "clock", "baseline_memory", "runs", "memory_samples", "phase_markers", "errors")) {
            assertTrue("missing " + key, trace.has(key));
        }
        assertEquals("slm-edge/trace", trace.get("schema").getAsString());
        assertEquals("running", trace.get("status").getAsString());
        assertEquals(1000, trace.getAsJsonObject("baseline_memory").get("rss_bytes").getAsLong());
        assertEquals("executorch", trace.getAsJsonObject("artifact").get("engine").getAsString());
        assertEquals(TestConfigs.valid(), trace.getAsJsonObject("config"));
    }

    @Test
    public void theHashIsTheHashOfTheFileAndNoTemporaryFileStays() throws Exception {
        String sha = writer.flush(null, null);
        assertEquals(TraceWriter.sha256Hex(file), sha);
        assertArrayEquals(new String[] {"trace.json"}, file.getParentFile().list());
    }

    @Test
    public void eachFlushReplacesTheWholeFile() throws Exception {
        writer.flush(null, null);
        writer.runs().add(Map.of("threads", 1));
        writer.addError("decode", "boom", 3);
        String sha = writer.flush(null, TraceWriter.INCOMPLETE);
        JsonObject trace = written();
        assertEquals(1, trace.getAsJsonArray("runs").size());
        assertEquals("incomplete", trace.get("status").getAsString());
        JsonObject error = trace.getAsJsonArray("errors").get(0).getAsJsonObject();
        assertEquals("decode", error.get("phase").getAsString());
        assertEquals(3, error.get("run").getAsInt());
        assertEquals(sha, TraceWriter.sha256Hex(Files.readString(file.toPath()).getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    public void aStaleTemporaryFileFromAKilledRunIsReplaced() throws Exception {
        file.getParentFile().mkdirs();
        Files.writeString(new File(file.getParentFile(), ".trace.json.tmp").toPath(), "{\"half\": ");
        writer.flush(null, null);
        assertEquals("running", written().get("status").getAsString());
        assertArrayEquals(new String[] {"trace.json"}, file.getParentFile().list());
    }

    @Test
    public void statusGoesFromRunningToOneFinalVerdict() throws Exception {
        writer.flush(null, TraceWriter.RUNNING);
        writer.flush(null, TraceWriter.COMPLETE);
        writer.flush(null, TraceWriter.COMPLETE); // idempotent
        assertThrows(IllegalStateException.class, () -> writer.flush(null, TraceWriter.INCOMPLETE));
        assertThrows(IllegalStateException.class, () -> writer.flush(null, TraceWriter.RUNNING));
        assertThrows(IllegalArgumentException.class, () -> writer.flush(null, "done"));
        assertEquals("complete", written().get("status").getAsString());
    }

    @Test
    public void sustainedSegmentsCountAsMeasuredAndAppearOnlyOnceTheRunStarts() throws Exception {
        writer.flush(null, null);
        assertTrue(writer.measuredNothing());
        assertFalse(written().has("sustained"));
        writer.startSustained(2, 8, 30.0, null);
        writer.flush(null, null);
        assertEquals(JsonParser.parseString("{\"threads\": 2, \"prompt_length\": 8, \"seconds\": 30.0, \"segments\": []}"),
                written().get("sustained"));
        assertTrue(writer.measuredNothing());
        writer.sustainedSegments().add(Map.of("start_ms", 1.0, "prefill_ms", 2.0, "decode_step_us", List.of(3.0)));
        assertFalse(writer.measuredNothing());
        writer.startSustained(2, 8, 30.0, Map.of("waited_ms", 0.0, "outcome", "no_sensor"));
        writer.flush(null, null);
        JsonObject sustained = written().getAsJsonObject("sustained");
        assertEquals("no_sensor", sustained.getAsJsonObject("cooldown").get("outcome").getAsString());
        assertEquals(1, sustained.getAsJsonArray("segments").size());
    }

    @Test
    public void opProfilesAccumulate() throws Exception {
        writer.appendOpProfile(Map.of("engine", "onnxruntime", "threads", 1, "phases", Map.of()));
        writer.appendOpProfile(Map.of("engine", "onnxruntime", "threads", 2, "phases", Map.of()));
        writer.flush(null, null);
        assertEquals(2, written().getAsJsonArray("op_profiles").size());
    }
}
