package io.hapticmat.android

import android.content.Context
import java.io.File

/**
 * Loads the core's native libraries in the order Android needs, once per process, and tells where the
 * core keeps its files on this phone.
 *
 * Call [load] from `Application.onCreate` (main thread) before the first call into `io.hapticmat.core`
 * or `io.hapticmat.presence`:
 * - ONNX Runtime first. rust-core loads it at run time by the name [NativeEnvironment.onnxRuntimeLibrary]
 *   (ort's load-dynamic, set through `setOnnxRuntimeLibrary`); with the library already loaded by the
 *   app's class loader, the core's `dlopen` of that name resolves to it inside the APK whether or not
 *   the system extracted native libraries. `ORT_DYLIB_PATH` is not needed on Android.
 * - The core second, through [System.loadLibrary] and not JNA: only the JVM's loader runs the library's
 *   `JNI_OnLoad`, where the core initialises btleplug's Android backend (docs/design.md §8). It does so on this
 *   thread, whose class loader sees the app's classes, btleplug's droidplug ones included. JNA's later
 *   `Native.load("hapticmat_core")` gets the library already in memory.
 */
object HapticMatNative {
    /** `System.loadLibrary` name of rust-core's cdylib (`libhapticmat_core.so`, uniffi.toml's cdylib_name). */
    const val CORE_LIBRARY = "hapticmat_core"

    /** `System.loadLibrary` name of ONNX Runtime from `com.microsoft.onnxruntime:onnxruntime-android`. */
    const val ONNX_RUNTIME_LIBRARY = "onnxruntime"

    @Volatile
    private var environment: NativeEnvironment? = null

    /**
     * Loads ONNX Runtime and the core (idempotent, thread-safe) and returns the directories the core
     * should use. Throws [UnsatisfiedLinkError] when the APK lacks a library for this device's ABI.
     */
    @JvmStatic
    fun load(context: Context): NativeEnvironment {
        environment?.let { return it }
        return synchronized(this) {
            environment ?: run {
                System.loadLibrary(ONNX_RUNTIME_LIBRARY)
                System.loadLibrary(CORE_LIBRARY)
                NativeEnvironment.of(context.applicationContext).also { environment = it }
            }
        }
    }

    /** Whether [load] has run in this process. */
    val isLoaded: Boolean get() = environment != null
}

/**
 * Where the core keeps its files, and how it finds ONNX Runtime.
 *
 * [modelCacheDir] holds the verified models and the last known-good one; it is under `noBackupFilesDir`
 * because models are re-downloaded, not restored from a backup, and must survive cache clearing.
 * [baselineDir] holds the per-mat empty-mat calibration, which is worth backing up.
 * [onnxRuntimeLibrary] is the name to hand to the core's `setOnnxRuntimeLibrary`.
 */
data class NativeEnvironment(
    val modelCacheDir: File,
    val baselineDir: File,
    val onnxRuntimeLibrary: String,
) {
    /** The soname and the directories of an app. */
    companion object {
        /** The soname ONNX Runtime's Android package installs. */
        const val ONNX_RUNTIME_SONAME = "libonnxruntime.so"

        /** The directories under [context]'s private storage. */
        fun of(context: Context) = NativeEnvironment(
            modelCacheDir = File(context.noBackupFilesDir, "hapticmat/models"),
            baselineDir = File(context.filesDir, "hapticmat/baselines"),
            onnxRuntimeLibrary = ONNX_RUNTIME_SONAME,
        )
    }
}
