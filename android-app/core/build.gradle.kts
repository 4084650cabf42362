// :core — the AAR Android developers import: rust-core's cdylib for each ABI (cargo-ndk), the UniFFI
// Kotlin bindings generated from that library (package io.hapticmat.core), the hand-written facade
// (io.hapticmat.presence), the Android glue (io.hapticmat.android), btleplug's Java classes, JNA as an
// AAR, and consumer ProGuard rules. Host-JVM tests of the same Kotlin run from core/pom.xml (Maven).
import groovy.json.JsonSlurper
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val rustRoot: File = rootProject.file(providers.gradleProperty("hapticmat.rustRoot").getOrElse(".."))
val abis: List<String> = providers.gradleProperty("hapticmat.abis").getOrElse("arm64-v8a,armeabi-v7a,x86_64")
    .split(',').map(String::trim).filter(String::isNotEmpty)
val cargoProfile: String = providers.gradleProperty("hapticmat.cargoProfile").getOrElse("release")
val minSdkLevel: Int = libs.versions.android.minSdk.get().toInt()

/**
 * The cargo to run: `-Phapticmat.cargo=/path/to/cargo`, else rustup's default place (`$CARGO_HOME/bin`
 * or `~/.cargo/bin`), else `cargo` from PATH. Android Studio started from a desktop launcher often has
 * a PATH without `~/.cargo/bin`.
 */
val cargo: String = providers.gradleProperty("hapticmat.cargo").orNull
    ?: listOfNotNull(System.getenv("CARGO_HOME"), System.getProperty("user.home")?.let { "$it/.cargo" })
        .map { File(it, "bin/cargo") }
        .firstOrNull { it.canExecute() }?.absolutePath
    ?: "cargo"

val jniLibsDir = layout.buildDirectory.dir("generated/rust/jniLibs")
val bindingsDir = layout.buildDirectory.dir("generated/uniffi/kotlin")
val droidplugDir = layout.buildDirectory.dir("generated/droidplug/java")

android {
    namespace = "io.hapticmat.android"
    compileSdk = libs.versions.android.compileSdk.get().toInt()
    ndkVersion = libs.versions.android.ndk.get()

    defaultConfig {
        minSdk = minSdkLevel
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += abis }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    sourceSets.getByName("main") {
        kotlin.srcDir(bindingsDir)
        java.srcDir(droidplugDir)
        jniLibs.srcDir(jniLibsDir)
    }

    // The local unit tests are the Maven build's tests (src/test/kotlin, docs/design.md §6): they drive the host
    // build of rust-core through JNA, which scripts/test-kotlin.sh --prepare makes (cdylib, pipeline
    // binary, a small test model). The generated bindings ask android.os.Build for their cleaner: the
    // android.jar stubs answer 0 on the JVM, and UniFFI then uses JNA's cleaner.
    testOptions.unitTests {
        isReturnDefaultValues = true
        all { test ->
            test.useJUnitPlatform()
            test.dependsOn("hostCoreForTests")
            val ort = rustRoot.resolve("build/onnxruntime/libonnxruntime.so").path
            test.systemProperty("jna.library.path", rustRoot.resolve("target/debug").path)
            test.systemProperty("hapticmat.ortLibrary", ort)
            test.systemProperty("hapticmat.model", rustRoot.resolve("build/kotlin-test-run/model.int8.onnx").path)
            test.systemProperty("hapticmat.recordings", rustRoot.resolve("data/seroton-mat").path)
            test.systemProperty("hapticmat.pipeline", rustRoot.resolve("target/debug/pipeline").path)
            test.environment("ORT_DYLIB_PATH", ort)
            test.environment("RUST_BACKTRACE", "0")
        }
    }
}

// Bytecode for Java 17, compiled by whatever JDK runs Gradle (Android Studio's bundled JDK 21 included):
// no toolchain to provision.
kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // The facade exposes Flows and suspend functions.
    api(libs.kotlinx.coroutines.core)
    implementation(libs.kotlinx.coroutines.android)
    // UniFFI's generated Kotlin calls the cdylib through JNA; the AAR variant carries libjnidispatch.so
    // for every ABI (the plain jar only has desktop natives).
    implementation(libs.jna) { artifact { type = "aar" } }
    // ONNX Runtime's libonnxruntime.so for every ABI. rust-core loads it at run time (ort's load-dynamic,
    // by the name io.hapticmat.android.HapticMatNative passes); the AAR's Java API is not used.
    implementation(libs.onnxruntime.android)
    // The generated bindings (android = true) annotate with @RequiresApi.
    implementation(libs.androidx.annotation)

    // On the host JVM the tests need JNA's jar, whose libjnidispatch is built for desktops.
    testImplementation(libs.jna) { artifact { type = "jar" } }
    testImplementation(platform(libs.junit.bom))
    testImplementation(libs.junit.jupiter)
    testImplementation(libs.kotlinx.coroutines.test)
    testRuntimeOnly(libs.junit.platform.launcher)
}

/** The host build of rust-core and the test model the local unit tests run against. */
val hostCoreForTests by tasks.registering(Exec::class) {
    workingDir = rustRoot
    commandLine("scripts/test-kotlin.sh", "--prepare")
}

/** The directory of the btleplug crate rust-core resolves for Android, from `cargo metadata`. */
fun btleplugCrateDir(): File {
    val json = providers.exec {
        workingDir = rustRoot
        commandLine(cargo, "metadata", "--format-version", "1", "--filter-platform", "aarch64-linux-android")
    }.standardOutput.asText.get()
    val packages = (JsonSlurper().parseText(json) as Map<*, *>)["packages"] as List<*>
    val btleplug = packages.map { it as Map<*, *> }.firstOrNull { it["name"] == "btleplug" }
        ?: throw GradleException("btleplug is not a dependency of the Rust workspace in $rustRoot")
    return File(btleplug["manifest_path"] as String).parentFile
}

val cargoNdkBuild by tasks.registering(Exec::class) {
    group = "rust"
    description = "Builds rust-core's cdylib for $abis with cargo-ndk into build/generated/rust/jniLibs."
    workingDir = rustRoot
    val args = mutableListOf(cargo, "ndk")
    abis.forEach { args += listOf("-t", it) }
    args += listOf("--platform", minSdkLevel.toString(), "-o", jniLibsDir.get().asFile.absolutePath)
    args += listOf("build", "-p", "hapticmat-core", "--lib")
    args += if (cargoProfile == "release") listOf("--release") else listOf("--profile", cargoProfile)
    commandLine(args)
    // Android 15+ devices may run with 16 KB memory pages, and Google Play requires 16 KB-aligned ELF
    // segments from apps targeting API 35+: align the load segments whatever the NDK's default. Packed
    // relocations (Android's APS2, API 23+) and identical-code folding make it smaller at no run-time
    // cost; the same flags as scripts/check-android.sh, which checks the result without the NDK.
    val linkArgs = listOf("-z,max-page-size=16384", "--pack-dyn-relocs=android", "--icf=all")
    environment(
        "RUSTFLAGS",
        (listOfNotNull(System.getenv("RUSTFLAGS")) + linkArgs.map { "-C link-arg=-Wl,$it" }).joinToString(" "),
    )
    // Resolved when the task runs, so configuring the project does not need the NDK installed.
    val ndkDirectory = androidComponents.sdkComponents.ndkDirectory
    doFirst { environment("ANDROID_NDK_HOME", ndkDirectory.get().asFile.absolutePath) }
    inputs.dir(rustRoot.resolve("rust-core/src"))
    inputs.file(rustRoot.resolve("rust-core/Cargo.toml"))
    // The workspace manifest holds the profiles and shared dependency versions; .cargo/config.toml the
    // build flags: a change to either changes the library.
    inputs.file(rustRoot.resolve("Cargo.toml"))
    inputs.file(rustRoot.resolve("Cargo.lock"))
    inputs.files(rustRoot.resolve(".cargo/config.toml")) // files(): absent is fine
    inputs.property("cargoProfile", cargoProfile)
    outputs.dir(jniLibsDir)
}

val uniffiBindings by tasks.registering(Exec::class) {
    group = "rust"
    description = "Generates the Kotlin bindings (android = true, uniffi.toml) from the built cdylib in library mode."
    dependsOn(cargoNdkBuild)
    workingDir = rustRoot
    val library = jniLibsDir.map { it.file("${abis.first()}/libhapticmat_core.so") }
    // The workspace's uniffi-bindgen is built from the same uniffi version as the cdylib's metadata.
    commandLine(
        cargo, "run", "--quiet", "-p", "uniffi-bindgen", "--",
        "generate", "--library", library.get().asFile.absolutePath,
        "--language", "kotlin",
        "--config", rustRoot.resolve("uniffi.toml").absolutePath,
        "--out-dir", bindingsDir.get().asFile.absolutePath,
        "--no-format",
    )
    inputs.file(library)
    inputs.file(rustRoot.resolve("uniffi.toml"))
    outputs.dir(bindingsDir)
}

val droidplugSources by tasks.registering(Sync::class) {
    group = "rust"
    description = "Copies btleplug's Android Java classes (droidplug and its jni-utils) into the AAR's sources."
    from(provider { btleplugCrateDir().resolve("src/droidplug/java/src/main/java") })
    into(droidplugDir)
}

tasks.named("preBuild") {
    dependsOn(uniffiBindings, droidplugSources)
}
