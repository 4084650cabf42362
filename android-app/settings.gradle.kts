// HapticMat Android: the :core library (rust-core's cdylib for the Android ABIs + UniFFI Kotlin bindings +
// the hand-written facade → the AAR) and the :app Compose app. Needs Google's Maven repository (AGP,
// androidx); see docs/android.md for what is built and verified where.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "hapticmat-android"
include(":core", ":app")
