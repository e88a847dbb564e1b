// The pure-Java core: config, the profiling loop against an Engine, samplers, trace writer.
// No Android classes, so it runs (and is tested) on any JVM; tests/test_android_core.py also
// compiles it with plain javac.
plugins {
    `java-library`
}

// Java 17 bytecode and API from whatever JDK runs Gradle (17 or newer), as the app's
// compileOptions: no toolchain, which would need a toolchain resolver (foojay) to download a JDK.
java {
    sourceCompatibility = JavaVersion.VERSION_17 // also the variant's org.gradle.jvm.version
    targetCompatibility = JavaVersion.VERSION_17
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(17) // javac --release: the JDK 17 API, not the running JDK's
}

dependencies {
    api(libs.gson)
    testImplementation(libs.junit)
}
