package dev.slmedge.profiler.onnx;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.slmedge.profiler.core.Greedy;
import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The app's OrtEngine on a prompt plus N greedy steps, for comparison with the Python loop
 * (slm_edge.runtime.step.StepLlm.greedy): writes OUT.f32, the N next-token logit rows that chose each
 * token (float32, little-endian, N x vocab), and OUT.json (tokens, describe(), step times).
 *
 * <p>{@code GreedyDump ARTIFACT_DIR THREADS STEPS OUT TOKEN...}; exit 2 on bad arguments.
 */
public final class GreedyDump {
    private GreedyDump() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: GreedyDump ARTIFACT_DIR THREADS STEPS OUT TOKEN...");
            System.exit(2);
        }
        File artifact = new File(args[0]);
        int threads = Integer.parseInt(args[1]);
        int steps = Integer.parseInt(args[2]);
        File out = new File(args[3]);
        int[] prompt = new int[args.length - 4];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = Integer.parseInt(args[4 + i]);
        }
        JsonObject manifest = JsonParser.parseString(new String(
                Files.readAllBytes(new File(artifact, "manifest.json").toPath()), StandardCharsets.UTF_8)).getAsJsonObject();
        List<Integer> tokens = new ArrayList<>();
        List<Double> stepUs = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        try (OrtEngine engine = new OrtEngine(null, "desktop JVM");
             OutputStream logitsFile = new BufferedOutputStream(new FileOutputStream(out.getPath() + ".f32"))) {
            engine.load(artifact, manifest, threads);
            long t0 = System.nanoTime();
            float[] logits = engine.step(prompt, 0);
            summary.put("prefill_us", (System.nanoTime() - t0) / 1e3);
            int position = prompt.length;
            for (int i = 0; i < steps; i++) {
                write(logitsFile, logits);
                int token = Greedy.argmax(logits);
                tokens.add(token);
                long s0 = System.nanoTime();
                logits = engine.step(new int[] {token}, position++);
                stepUs.add((System.nanoTime() - s0) / 1e3);
            }
            summary.put("vocab", logits.length);
            summary.put("describe", engine.describe());
            summary.put("shares_buffer", engine.sharesBuffer());
            summary.put("runtime_version", OrtEngine.runtimeVersion());
        }
        summary.put("tokens", tokens);
        summary.put("decode_step_us", stepUs);
        Files.write(new File(out.getPath() + ".json").toPath(), new Gson().toJson(summary).getBytes(StandardCharsets.UTF_8));
    }

    private static void write(OutputStream stream, float[] row) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(row.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(row);
        stream.write(bytes.array());
    }
}
