package dev.slmedge.profiler.core;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The trace (slm_edge/records/schemas/trace.schema.json), the same fields the Linux runner writes. It is
 * rewritten whole after every repeat through a temporary file and a rename, so a kill at any
 * moment leaves either the previous complete file or the new one, never half of one.
 */
public final class TraceWriter {
    public static final String RUNNING = "running";
    public static final String COMPLETE = "complete";
    public static final String INCOMPLETE = "incomplete";
    public static final String FAILED = "failed";
    private static final Set<String> FINAL = Set.of(COMPLETE, INCOMPLETE, FAILED);

    // Gson would write NaN/Infinity as bare tokens that are not JSON; probes store null instead.
    private static final Gson GSON = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private final File file;
    private final Map<String, Object> trace = new LinkedHashMap<>();
    private final List<Map<String, Object>> loads = new ArrayList<>();
    private final List<Map<String, Object>> runs = new ArrayList<>();
    private final List<Map<String, Object>> errors = new ArrayList<>();
    private final List<Map<String, Object>> evalChunks = new ArrayList<>();
    private final List<Map<String, Object>> sustainedSegments = new ArrayList<>();
    private String lastSha256;

    public TraceWriter(File file, RunConfig config, Platform platform, MemoryReader.Reading baseline,
                       Long baselinePss, long originNs) {
        this.file = file;
        trace.put("schema", Contract.TRACE_SCHEMA);
        trace.put("schema_version", Contract.TRACE_SCHEMA_VERSION);
        trace.put("status", RUNNING);
        trace.put("producer", Map.of("name", platform.producerName(), "version", platform.producerVersion()));
        trace.put("device", platform.deviceFacts());
        trace.put("software", new LinkedHashMap<>(platform.software()));
        Map<String, Object> artifact = new LinkedHashMap<>();
        artifact.put("manifest_sha256", config.artifact.manifestSha256);
        artifact.put("model_file", config.artifact.modelFile);
        artifact.put("engine", config.artifact.engine);
        trace.put("artifact", artifact);
        trace.put("config", config.raw);
        Map<String, Object> clock = new LinkedHashMap<>();
        clock.put("monotonic_origin_ns", originNs);
        clock.put("wall_origin_ms", (double) System.currentTimeMillis());
        clock.putAll(platform.clockExtras());
        trace.put("clock", clock);
        // Measured before the model loads: the report gives increases over this baseline.
        Map<String, Object> baselineMemory = new LinkedHashMap<>();
        baselineMemory.put("rss_bytes", baseline.rssBytes());
        baselineMemory.put("hwm_bytes", baseline.hwmBytes());
        baselineMemory.put("pss_bytes", baselinePss);
        trace.put("baseline_memory", baselineMemory);
        trace.put("loads", loads);
        trace.put("runs", runs);
        if (RunConfig.EVAL.equals(config.mode)) { // present from the start, chunks appended as they are scored
            Map<String, Object> eval = new LinkedHashMap<>();
            eval.put("threads", config.threads.get(0));
            eval.put("chunks", evalChunks);
            trace.put("eval", eval);
        }
        trace.put("memory_samples", List.of());
        trace.put("phase_markers", List.of());
        trace.put("cpu_samples", List.of());
        trace.put("errors", errors);
    }

    public File file() {
        return file;
    }

    public String status() {
        return (String) trace.get("status");
    }

    public List<Map<String, Object>> loads() {
        return loads;
    }

    public List<Map<String, Object>> runs() {
        return runs;
    }

    public List<Map<String, Object>> errors() {
        return errors;
    }

    /** Mode eval's scored chunks (trace "eval"."chunks"); always empty in the other modes. */
    public List<Map<String, Object>> evalChunks() {
        return evalChunks;
    }

    /** Mode sustained's segments (trace "sustained"."segments"); always empty in the other modes. */
    public List<Map<String, Object>> sustainedSegments() {
        return sustainedSegments;
    }

    /**
     * The trace's sustained section, added when the sustained run begins (after the load and the gate,
     * as the Linux runner does); segments are appended to sustainedSegments() as they are measured.
     * gate: the cool-down record, or null when no gate ran.
     */
    public void startSustained(int threads, int promptLength, double seconds, Map<String, Object> gate) {
        Map<String, Object> sustained = new LinkedHashMap<>();
        sustained.put("threads", threads);
        sustained.put("prompt_length", promptLength);
        sustained.put("seconds", seconds);
        sustained.put("segments", sustainedSegments);
        if (gate != null) {
            sustained.put("cooldown", gate);
        }
        trace.put("sustained", sustained);
    }

    /** The trace's top-level unplug_wait record (UnplugGate), written once before the model loads. */
    public void setUnplugWait(Map<String, Object> record) {
        trace.put("unplug_wait", record);
    }

    /**
     * Where the process was pinned (CpuPinning): software.cpus_allowed (the cores, 0-based, sorted) and
     * software.cpu_pinning {cores, scope}, scope "process" as the Linux runner writes it (every thread).
     */
    public void setCpuPinning(List<Integer> cores, String scope) {
        Map<String, Object> pinning = new LinkedHashMap<>();
        pinning.put("cores", cores);
        pinning.put("scope", scope);
        software().put("cpus_allowed", cores);
        software().put("cpu_pinning", pinning);
    }

    /** True while nothing was measured (no run, scored chunk or sustained segment): a failure now makes the trace "failed". */
    public boolean measuredNothing() {
        return runs.isEmpty() && evalChunks.isEmpty() && sustainedSegments.isEmpty();
    }

    /** One scored chunk: its length, the L-1 log-probabilities and argmaxes, and its wall time. */
    public static Map<String, Object> evalChunk(int tokens, List<Double> logprob, List<Integer> argmax, double ms) {
        Map<String, Object> chunk = new LinkedHashMap<>();
        chunk.put("tokens", tokens);
        chunk.put("logprob", logprob);
        chunk.put("argmax", argmax);
        chunk.put("ms", ms);
        return chunk;
    }

    /** A model load: its time, the RSS after it, and the runtime that did it. */
    public void addLoad(int threads, double loadMs, long rssAfterBytes, String runtime) {
        Map<String, Object> load = new LinkedHashMap<>();
        load.put("threads", threads);
        load.put("load_ms", loadMs);
        load.put("rss_after_bytes", rssAfterBytes);
        loads.add(load);
        software().put("runtime", runtime);
    }

    /** The fields that place a run in the matrix: thread count, prompt length, repeat, warm-up. */
    public static Map<String, Object> runRecord(int threads, int promptLength, int index, int warmupCount) {
        boolean warmup = index < warmupCount;
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("threads", threads);
        record.put("prompt_length", promptLength);
        record.put("repeat", warmup ? index : index - warmupCount);
        record.put("warmup", warmup);
        return record;
    }

    /** A run's memory readings; pss is null where the platform cannot read it cheaply. */
    public static Map<String, Object> runMemory(long rssAfterPrefillBytes, MemoryReader.Reading end, Object pssBytes) {
        Map<String, Object> memory = new LinkedHashMap<>();
        memory.put("rss_after_prefill_bytes", rssAfterPrefillBytes);
        memory.put("rss_end_bytes", end.rssBytes());
        memory.put("hwm_end_bytes", end.hwmBytes());
        memory.put("pss_end_bytes", pssBytes);
        return memory;
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> software() {
        return (Map<String, Object>) trace.get("software");
    }

    @SuppressWarnings("unchecked")
    public void appendOpProfile(Map<String, Object> profile) {
        ((List<Map<String, Object>>) trace.computeIfAbsent("op_profiles", key -> new ArrayList<>())).add(profile);
    }

    public void addError(String phase, String message, Integer run) {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("phase", phase);
        error.put("message", message);
        error.put("run", run);
        errors.add(error);
    }

    /** Rewrite the file with the sampler's data so far; newStatus null keeps the status. Returns its SHA-256. */
    public synchronized String flush(Sampler sampler, String newStatus) throws IOException {
        if (sampler != null) {
            List<List<Map<String, Object>>> snapshot = sampler.snapshot();
            trace.put("memory_samples", snapshot.get(0));
            trace.put("cpu_samples", snapshot.get(1));
            trace.put("phase_markers", snapshot.get(2));
        }
        if (newStatus != null) {
            transition(newStatus);
        }
        byte[] bytes = GSON.toJson(trace).getBytes(StandardCharsets.UTF_8);
        writeAtomically(bytes);
        lastSha256 = sha256Hex(bytes);
        return lastSha256;
    }

    /** running → complete | incomplete | failed, once: a finished trace never changes its verdict. */
    private void transition(String newStatus) {
        String current = status();
        if (!RUNNING.equals(newStatus) && !FINAL.contains(newStatus)) {
            throw new IllegalArgumentException("unknown trace status " + newStatus);
        }
        if (FINAL.contains(current) && !current.equals(newStatus)) {
            throw new IllegalStateException("trace is already " + current + "; cannot become " + newStatus);
        }
        if (RUNNING.equals(newStatus) && !RUNNING.equals(current)) {
            throw new IllegalStateException("trace is already " + current + "; cannot run again");
        }
        trace.put("status", newStatus);
    }

    public String lastSha256() {
        return lastSha256;
    }

    private void writeAtomically(byte[] bytes) throws IOException {
        File dir = file.getAbsoluteFile().getParentFile();
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create trace folder " + dir);
        }
        File temp = new File(dir, "." + file.getName() + ".tmp");
        try (FileOutputStream out = new FileOutputStream(temp)) {
            out.write(bytes);
            out.getFD().sync(); // the rename must not land before the data on a power cut
        }
        try {
            Files.move(temp.toPath(), file.toPath(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(temp.toPath(), file.toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    public static String sha256Hex(byte[] bytes) {
        try {
            StringBuilder hex = new StringBuilder(64);
            for (byte b : MessageDigest.getInstance("SHA-256").digest(bytes)) {
                hex.append(String.format("%02x", b));
            }
            return hex.toString();
        } catch (NoSuchAlgorithmException impossible) {
            throw new AssertionError(impossible); // every JVM and Android ship SHA-256
        }
    }

    public static String sha256Hex(File file) throws IOException {
        return sha256Hex(Files.readAllBytes(file.toPath()));
    }
}
