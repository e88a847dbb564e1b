// The pure-Java core: config, the profiling loop against an Engine, samplers, trace writer.
// No Android classes, so it runs (and is tested) on any JVM; tests/test_android_core.py also
// compiles it with plain javac.
plugins {
    `java-library`
}

java {
    toolchain { languageVersion.set(JavaLanguageVersion.of(17)) }
}

dependencies {
    api(libs.gson)
    testImplementation(libs.junit)
}
