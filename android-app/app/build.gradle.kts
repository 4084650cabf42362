// :app — the Compose app. Its platform-free code lives in src/shared (domain, state holders, UI state)
// and src/ui (stateless screens), which the host-JVM Maven build (../jvm-app/pom.xml) compiles and tests
// too; src/main holds only what needs Android (Activity, ViewModels, permissions, the core adapter).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

/** A Gradle property as a Java string literal for BuildConfig ("" when unset). */
fun quoted(property: Provider<String>): String =
    "\"" + property.getOrElse("").replace("\\", "\\\\").replace("\"", "\\\"") + "\""

// The signed baseline model the app installs on its first run, offline (issue 11): a folder laid out by
// `pipeline publish` (latest.json, history/, models/), signed with the key whose public half is in
// hapticmat.modelPublicKeys — Jenkins' promote makes it with the production key. Optional extra models
// (hapticmat.benchmarkModels, comma-separated .onnx files) ride along for the Model screen's benchmark
// only. Both land in the APK's assets under bundled-model/ (io.hapticmat.android.BundledModel).
val bundledModel: String? = providers.gradleProperty("hapticmat.bundledModel").orNull?.takeIf(String::isNotBlank)
val benchmarkModels: List<String> = providers.gradleProperty("hapticmat.benchmarkModels").getOrElse("")
    .split(',').map(String::trim).filter(String::isNotEmpty)
val bundledModelAssets = layout.buildDirectory.dir("generated/bundled-model/assets")
val bundleModel by tasks.registering(Sync::class) {
    group = "hapticmat"
    description = "Copies the signed baseline model (and benchmark-only models) into the APK's assets."
    into(bundledModelAssets)
    bundledModel?.let { dir ->
        from(rootProject.file(dir)) {
            include("latest.json", "history/*.json", "models/*.onnx")
            into("bundled-model")
        }
    }
    benchmarkModels.forEach { from(rootProject.file(it)) { into("bundled-model/benchmark") } }
}
tasks.named("preBuild") { dependsOn(bundleModel) }

android {
    namespace = "io.hapticmat.app"
    compileSdk = libs.versions.android.compileSdk.get().toInt()

    defaultConfig {
        applicationId = "io.hapticmat.app"
        minSdk = libs.versions.android.minSdk.get().toInt()
        targetSdk = libs.versions.android.targetSdk.get().toInt()
        versionCode = 1
        versionName = "0.1.0"

        // The model store (the production bucket) and the signer's public keys: public values, set per
        // deployment in gradle.properties or with -P. Empty: the app runs without model updates.
        buildConfigField("String", "MODEL_STORE_URL", quoted(providers.gradleProperty("hapticmat.modelStoreUrl")))
        buildConfigField("String", "MODEL_PUBLIC_KEYS", quoted(providers.gradleProperty("hapticmat.modelPublicKeys")))
        // Or the offline root key the build pins (and its version): publisher keys then rotate through the
        // store's root-signed keys.json without an app update (docs/operations.md, "Key rotation").
        buildConfigField("String", "MODEL_ROOT_KEY", quoted(providers.gradleProperty("hapticmat.modelRootKey")))
        buildConfigField("long", "MODEL_ROOT_VERSION", providers.gradleProperty("hapticmat.modelRootVersion").getOrElse("1") + "L")

        // Only the ABIs :core builds rust-core for. JNA and ONNX Runtime carry more (x86, and JNA desktop
        // ones): packaged, a device of such an ABI would pick it and find no libhapticmat_core.so.
        ndk {
            abiFilters += providers.gradleProperty("hapticmat.abis").getOrElse("arm64-v8a,armeabi-v7a,x86_64")
                .split(',').map(String::trim).filter(String::isNotEmpty)
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            isShrinkResources = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        buildConfig = true
        compose = true
    }

    sourceSets.getByName("main") {
        kotlin.srcDirs("src/shared/kotlin", "src/ui/kotlin")
        assets.srcDir(bundledModelAssets)
    }

    // Local unit tests are the same JUnit 5 sources the Maven build runs; src/desktopTest (Compose
    // desktop rendering) stays Maven-only.
    testOptions.unitTests.all { it.useJUnitPlatform() }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.kotlinx.coroutines.android)

    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.foundation)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.compose.material.icons.core)
    implementation(libs.androidx.compose.ui.tooling.preview)
    debugImplementation(libs.androidx.compose.ui.tooling)

    testImplementation(platform(libs.junit.bom))
    testImplementation(libs.junit.jupiter)
    testImplementation(libs.kotlinx.coroutines.test)
    testRuntimeOnly(libs.junit.platform.launcher)
}
