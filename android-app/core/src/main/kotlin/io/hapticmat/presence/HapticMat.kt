package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.MatDevice
import io.hapticmat.core.coreVersion as nativeCoreVersion
import io.hapticmat.core.nativeObjectCount as nativeLiveObjects
import io.hapticmat.core.scanForMats as nativeScan
import io.hapticmat.core.setOnnxRuntimeLibrary as nativeSetOnnxRuntimeLibrary
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** Process-wide functions of the core. */
object HapticMat {
    /**
     * Where ONNX Runtime's shared library is; call before the first model loads. On Android pass
     * `NativeEnvironment.onnxRuntimeLibrary`; on a desktop JVM the path of `libonnxruntime.so`.
     * No I/O (the library is loaded with the first model); any thread.
     */
    fun setOnnxRuntimeLibrary(path: String) = mapErrors { nativeSetOnnxRuntimeLibrary(path) }

    /**
     * Lists the devices that may be a mat, heard within [duration] (1 to 60 s, whole seconds): those
     * advertising the mat's service first, then named ones, strongest first. Runs on a thread of the
     * core. Throws [HapticMatException.BluetoothUnavailable] without usable Bluetooth and
     * [HapticMatException.BluetoothPermissionDenied] without the nearby-devices permissions.
     */
    suspend fun scanForMats(duration: Duration = 5.seconds): List<MatDevice> {
        val seconds = duration.inWholeSeconds
        require(seconds in 1..60) { "scan duration $duration: expected 1 to 60 s" }
        return mapErrors { nativeScan(seconds.toUInt()) }
    }

    /** Native objects (monitors, updaters, subscriptions) not yet freed: 0 once all are closed. */
    val nativeObjectCount: Long get() = nativeLiveObjects().toLong()

    /** The version of the native core. */
    val coreVersion: String get() = nativeCoreVersion()
}
