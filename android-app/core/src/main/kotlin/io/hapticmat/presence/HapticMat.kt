package io.hapticmat.presence

import io.hapticmat.core.HapticMatException
import io.hapticmat.core.MatDevice
import io.hapticmat.core.MatScanListener
import io.hapticmat.core.ModelBenchmark
import io.hapticmat.core.benchmarkModel as nativeBenchmarkModel
import io.hapticmat.core.coreVersion as nativeCoreVersion
import io.hapticmat.core.nativeObjectCount as nativeLiveObjects
import io.hapticmat.core.scanForMats as nativeScan
import io.hapticmat.core.setOnnxRuntimeLibrary as nativeSetOnnxRuntimeLibrary
import io.hapticmat.core.startMatScan as nativeStartScan
import java.io.File
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.runningFold

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

    /**
     * One Bluetooth scan for as long as this Flow is collected: emits the devices that may be a mat heard
     * so far — those advertising the mat's service first, then named ones, strongest first — starting with
     * an empty list, and again whenever a device appears or its name or signal changes. Cancelling the
     * collector stops the radio (in the core, within about a second). One scan start however long it
     * runs, so it stays inside Android's five scan starts per 30 s. Fails with
     * [HapticMatException.BluetoothUnavailable] (no usable Bluetooth, or turned off during the scan),
     * [HapticMatException.BluetoothPermissionDenied], or [HapticMatException.Bluetooth].
     */
    fun scanMats(): Flow<List<MatDevice>> =
        heardDevices()
            .runningFold(emptyMap<String, HeardDevice>()) { seen, heard -> seen + (heard.device.id to heard) }
            .map { ranked(it.values) }
            .conflate()

    private class HeardDevice(val device: MatDevice, val advertisesMatService: Boolean)

    private fun ranked(heard: Collection<HeardDevice>): List<MatDevice> =
        heard.sortedWith(
            compareByDescending<HeardDevice> { it.advertisesMatService }.thenByDescending { it.device.rssi?.toInt() ?: Int.MIN_VALUE },
        ).map { it.device }

    private fun heardDevices(): Flow<HeardDevice> = callbackFlow {
        val listener = object : MatScanListener {
            override fun onMatFound(mat: MatDevice, advertisesMatService: Boolean) {
                trySend(HeardDevice(mat, advertisesMatService))
            }

            override fun onScanFailed(bluetoothUnavailable: Boolean, reason: String) {
                close(
                    if (bluetoothUnavailable) {
                        HapticMatException.BluetoothUnavailable(reason)
                    } else {
                        HapticMatException.Bluetooth(reason)
                    },
                )
            }
        }
        // Resolves once the radio scans; a cancel before that stops the scan in the core.
        val handle = mapErrors { nativeStartScan(listener) }
        awaitClose {
            handle.cancel()
            handle.close()
        }
    }.buffer(Channel.UNLIMITED)

    /**
     * Benchmarks the model [file] on this device through the core, as the monitor runs it: load time,
     * latency p50/p99/mean over [iterations] single calls (after a warm-up), throughput, the resident
     * memory it added and its size. Runs on a thread of the core (about a second of CPU at 10 000 calls);
     * benchmark the fp32 and the int8 model one after the other to compare them. Throws
     * [HapticMatException.InvalidModel] for a missing or invalid model.
     */
    suspend fun benchmarkModel(file: File, iterations: Int = 10_000): ModelBenchmark {
        require(iterations in 1..100_000) { "iterations $iterations: expected 1 to 100000" }
        return mapErrors { nativeBenchmarkModel(file.path, iterations.toUInt()) }
    }

    /** Native objects (monitors, updaters, subscriptions) not yet freed: 0 once all are closed. */
    val nativeObjectCount: Long get() = nativeLiveObjects().toLong()

    /** The version of the native core. */
    val coreVersion: String get() = nativeCoreVersion()
}
