plugins {
    alias(libs.plugins.android.application)
}

// One place for the app's identity: the manifest, BuildConfig and the slm-edge-app.json asset.
// 2: the identity asset states the runtimes and features; `-e query identity` answers it.
val appVersionCode = 2
val appVersionName = "1.0.0"
val appAbis = listOf("arm64-v8a", "x86_64")
// What the runtimes this APK links can do, for the host to refuse a run that cannot work before it
// pushes anything. ETDump: the executorch-android AARs on Maven are built without
// EXECUTORCH_ANDROID_PROFILING (README.md, Limits). Shared KV: OrtEngine binds one max-length
// past/present buffer for GroupQueryAttention graphs (OrtSession.run with pinned outputs).
// unplug_wait: the run config key (UnplugGate). thread_cores: CPU samples say on which cores the threads
// ran (/proc/self/task). cpu_affinity: the run config's cpus pin the whole process (every engine and mode)
// with taskset before the load, checked thread by thread (CpuPinning; README.md: the app's cpuset bounds it).
val appFeatures = linkedMapOf("executorch_etdump" to false, "onnx_shared_kv" to true, "eval_mode" to true,
    "unplug_wait" to true, "thread_cores" to true, "cpu_affinity" to true)
// Read from the core's Contract so the asset can never disagree with the traces the app writes.
val contractTraceSchemaVersion: Int = Regex("""TRACE_SCHEMA_VERSION\s*=\s*(\d+)""")
    .find(rootProject.file("core/src/main/java/dev/slmedge/profiler/core/Contract.java").readText())
    ?.groupValues?.get(1)?.toInt() ?: error("TRACE_SCHEMA_VERSION not found in Contract.java")

android {
    namespace = "dev.slmedge.profiler"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.slmedge.profiler"
        minSdk = 29 // PowerManager.getCurrentThermalStatus
        targetSdk = 36
        versionCode = appVersionCode
        versionName = appVersionName
        ndk { abiFilters += appAbis }
        buildConfigField("String", "EXECUTORCH_VERSION", "\"${libs.versions.executorch.get()}\"")
        buildConfigField("String", "ONNXRUNTIME_VERSION", "\"${libs.versions.onnxruntime.get()}\"")
    }

    buildFeatures { buildConfig = true }

    buildTypes {
        release {
            // Not debuggable (a debuggable app runs slower); <profileable shell="true"/> keeps it
            // inspectable. Signed with the debug key: a measuring tool installed over adb.
            // Not minified: ProfileSession looks AndroidEngineFactory up by name (a keep rule otherwise).
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // fbjni (ExecuTorch) and other AARs may each carry the C++ runtime
        jniLibs { pickFirsts += "**/libc++_shared.so" }
    }
}

/** Writes assets/slm-edge-app.json, which the host reads from the APK before installing it. */
abstract class AppInfoAssetTask : DefaultTask() {
    @get:Input abstract val packageName: Property<String>
    @get:Input abstract val versionName: Property<String>
    @get:Input abstract val versionCode: Property<Int>
    @get:Input abstract val traceSchemaVersion: Property<Int>
    @get:Input abstract val abis: ListProperty<String>
    @get:Input abstract val runtimes: MapProperty<String, String>
    @get:Input abstract val features: MapProperty<String, Boolean>
    @get:OutputDirectory abstract val outputDir: DirectoryProperty

    @TaskAction
    fun write() {
        val info = linkedMapOf(
            "package" to packageName.get(),
            "version_name" to versionName.get(),
            "version_code" to versionCode.get(),
            "trace_schema_version" to traceSchemaVersion.get(),
            "abis" to abis.get(),
            "runtimes" to LinkedHashMap(runtimes.get()),
            "features" to LinkedHashMap(features.get()),
        )
        val file = outputDir.file("slm-edge-app.json").get().asFile
        file.parentFile.mkdirs()
        file.writeText(groovy.json.JsonOutput.prettyPrint(groovy.json.JsonOutput.toJson(info)) + "\n")
    }
}

androidComponents {
    onVariants { variant ->
        val task = tasks.register<AppInfoAssetTask>("generate${variant.name.replaceFirstChar { it.uppercase() }}AppInfoAsset") {
            packageName.set("dev.slmedge.profiler")
            versionName.set(appVersionName)
            versionCode.set(appVersionCode)
            traceSchemaVersion.set(contractTraceSchemaVersion)
            abis.set(appAbis)
            // the versions the dependencies below resolve to (gradle/libs.versions.toml)
            runtimes.set(linkedMapOf(
                "executorch" to libs.versions.executorch.get(),
                "onnxruntime" to libs.versions.onnxruntime.get(),
            ))
            features.set(appFeatures)
        }
        variant.sources.assets?.addGeneratedSourceDirectory(task, AppInfoAssetTask::outputDir)
    }
}

dependencies {
    implementation(project(":core"))
    // OrtEngine, pure Java: compiled against the desktop onnxruntime jar (compileOnly there); the
    // APK packs onnxruntime-android below, which has the same ai.onnxruntime classes plus the .so files
    implementation(project(":onnx"))
    implementation(libs.executorch.android)
    implementation(libs.onnxruntime.android)
}
