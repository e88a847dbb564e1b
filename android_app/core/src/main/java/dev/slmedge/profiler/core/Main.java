package dev.slmedge.profiler.core;

import com.google.gson.GsonBuilder;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The core on a desktop JVM: `java -cp ... dev.slmedge.profiler.core.Main CONFIG.json TRACE_DIR`
 * runs the config's loop and writes the trace the app would. An onnxruntime artifact runs on the
 * app's own OrtEngine when the onnx module and onnxruntime's desktop jar are on the classpath
 * (android_app/jvm/pom.xml); anything else runs TinyEngine, so the loop and the trace format are
 * checked without a phone. `-Dslmedge.engine=tiny` forces TinyEngine. `Main --contract` prints the
 * contract constants. Exit code: 0 complete, 1 incomplete or failed, 2 bad arguments or config.
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
        EngineFactory engines = desktopEngines(config);
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

    /**
     * The real OrtEngine for an onnxruntime artifact when its classes are here (looked up by name, so
     * the core keeps no onnxruntime dependency and still compiles alone), else TinyEngine.
     */
    static EngineFactory desktopEngines(RunConfig config) {
        if ("onnxruntime".equals(config.artifact.engine) && !"tiny".equals(System.getProperty("slmedge.engine"))) {
            Class<?> engineClass = EngineFactory.optionalClass(OrtDesktopFactory.ENGINE_CLASS);
            if (engineClass != null && EngineFactory.optionalClass(OrtDesktopFactory.RUNTIME_CLASS) != null) {
                return new OrtDesktopFactory(engineClass);
            }
        }
        return new TinyEngineFactory(config);
    }

    /**
     * dev.slmedge.profiler.onnx.OrtEngine, the class the app runs, on onnxruntime's desktop jar.
     * Built by its (String profilePrefix, String platform) constructor.
     */
    static final class OrtDesktopFactory implements EngineFactory {
        static final String ENGINE_CLASS = "dev.slmedge.profiler.onnx.OrtEngine";
        static final String RUNTIME_CLASS = "ai.onnxruntime.OrtEnvironment";
        static final String PLATFORM = "desktop JVM";
        private final Class<?> engineClass;

        OrtDesktopFactory(Class<?> engineClass) {
            this.engineClass = engineClass;
        }

        private OpProfilingEngine make(String profilePrefix) throws Exception {
            return (OpProfilingEngine) engineClass.getConstructor(String.class, String.class)
                    .newInstance(profilePrefix, PLATFORM);
        }

        @Override
        public Engine create(String engine) throws Exception {
            if (!"onnxruntime".equals(engine)) {
                throw new ProfileLoop.ProfileException("engine " + engine + " does not run on this desktop JVM "
                        + "(only onnxruntime artifacts do)");
            }
            return make(null);
        }

        @Override
        public OpProfilingEngine createOpProfiling(String engine, File profileDir) throws Exception {
            return "onnxruntime".equals(engine) ? make(new File(profileDir, "ort-profile").getAbsolutePath()) : null;
        }

        @Override
        public String implementation() {
            String version;
            try {
                version = (String) engineClass.getMethod("runtimeVersion").invoke(null);
            } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
                version = "unknown version";
            }
            return "the app's OrtEngine on onnxruntime " + version + " (" + PLATFORM
                    + ", com.microsoft.onnxruntime:onnxruntime; not a phone)";
        }
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
