// The app's ONNX engine: pure Java against onnxruntime's Java API (ai.onnxruntime), which
// onnxruntime-android and the desktop jar share. No Android classes, so it also runs on a desktop
// JVM (android_app/jvm/pom.xml, tests/test_app_jvm_onnx.py). Compiled against the desktop jar
// only: the app module supplies onnxruntime-android at run time.
plugins {
    `java-library`
}

// Java 17 bytecode and API from the JDK that runs Gradle, as core/build.gradle.kts (no toolchain:
// it would need a resolver to download a JDK).
java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(17)
}

dependencies {
    api(project(":core")) // OrtEngine implements core's OpProfilingEngine
    compileOnly(libs.onnxruntime.jvm)
}
