package dev.slmedge.profiler.core;

import com.google.gson.GsonBuilder;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The core on a desktop JVM: `java -cp ... dev.slmedge.profiler.core.Main CONFIG.json TRACE_DIR`
 * runs the config's loop against TinyEngine and writes the trace the app would, so the loop and the
 * trace format are checked without a phone. `Main --contract` prints the contract constants.
 * Exit code: 0 complete, 1 incomplete or failed, 2 bad arguments or config.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 1 && "--contract".equals(args[0])) {
            Map<String, Object> out = new LinkedHashMap<>(Contract.constants());
            out.put("trace_dir(RUN_ID)", Contract.traceDir("RUN_ID"));
            System.out.println(new GsonBuilder().setPrettyPrinting().create().toJson(out));
            return 0;
        }
        if (args.length != 2) {
            System.err.println("usage: Main CONFIG.json TRACE_DIR | Main --contract");
            return 2;
        }
        File configFile = new File(args[0]);
        RunConfig config;
        try {
            config = RunConfig.read(configFile);
        } catch (ConfigException e) {
            System.err.println("error: " + e.getMessage());
            return 2;
        }
        CpuReader cpu = new CpuReader();
        EngineFactory engines = new TinyEngineFactory(config);
        ProfileLoop.Outcome outcome = new ProfileLoop(config, configFile, new File(args[1]), engines,
                new DesktopPlatform(cpu), Main::printStatus, new MemoryReader(), cpu).run();
        System.out.println("status=" + outcome.status());
        System.out.println("trace=" + outcome.trace().getAbsolutePath());
        System.out.println("trace_sha256=" + outcome.sha256());
        if (outcome.error() != null) {
            System.out.println("error=" + outcome.error());
        }
        return outcome.complete() ? 0 : 1;
    }

    /** The Linux runner's progress line format: `slm-edge-status phase=load threads=2`. */
    private static void printStatus(Map<String, String> fields) {
        StringBuilder line = new StringBuilder(Contract.STATUS_PREFIX);
        fields.forEach((key, value) -> line.append(' ').append(key).append('=').append(value));
        System.out.println(line);
    }

    /** Every engine name runs TinyEngine here: the trace's software block says so. */
    static final class TinyEngineFactory implements EngineFactory {
        private final RunConfig config;

        TinyEngineFactory(RunConfig config) {
            this.config = config;
        }

        @Override
        public Engine create(String engine) {
            return new TinyEngine(config.artifact.vocabSize, config.artifact.maxSeqLen, config.seed);
        }

        @Override
        public String implementation() {
            return "TinyEngine (desktop JVM check; no " + config.artifact.engine + " runtime)";
        }
    }
}
