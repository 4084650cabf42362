package io.hapticmat.presence

import io.hapticmat.core.FrameListener
import io.hapticmat.core.HapticMatException
import io.hapticmat.core.MatFrame
import io.hapticmat.core.MatMonitor
import io.hapticmat.core.MatSource
import io.hapticmat.core.ModelDetails
import io.hapticmat.core.MonitorState
import io.hapticmat.core.MonitorStats
import io.hapticmat.core.PersonalCalibrationStatus
import io.hapticmat.core.PresenceListener
import io.hapticmat.core.PresenceState
import java.io.Closeable
import java.io.File
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlin.time.DurationUnit
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.withContext

/**
 * The live presence monitor: frames from the mat (Bluetooth), a replay or the simulator go through the
 * model and come out as [states], [presence], [frames] and [absenceTimeouts].
 *
 * Blocking work (loading a model, starting and stopping a session) runs on [dispatcher]; the other
 * calls return at once and are safe from the main thread. Each Flow subscribes when collected and
 * unsubscribes in Rust when its collection ends. [close] tells the session to stop and frees the native
 * monitor without waiting for the mat to disconnect, so it is safe on the main thread (`onCleared`);
 * any later call throws [IllegalStateException]. Use [stop] first where the caller must know the link is
 * down.
 */
class PresenceMonitor(
    private val dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : Closeable {
    internal val native = MatMonitor()

    /** Loads an ONNX model and uses it from now on (a running session switches at once). */
    suspend fun loadModel(file: File): ModelDetails = blocking { native.loadModel(file.path) }

    /** Uses the model [updates] installed (falling back to its known-good one if that fails to load). */
    suspend fun useInstalledModel(updates: ModelUpdates): ModelDetails =
        blocking { native.useInstalledModel(updates.native) }

    /**
     * Starts a session with [source], stopping the running one first. Throws, before anything starts,
     * [HapticMatException.ModelNotLoaded], [HapticMatException.BluetoothUnavailable],
     * [HapticMatException.Recording], …
     */
    suspend fun start(source: MatSource) = blocking { native.start(source) }

    /** Stops the session and waits for it to end (a Bluetooth disconnect takes up to ~1 s). */
    suspend fun stop() = blocking { native.stop() }

    /**
     * Takes the next [duration] of frames as the empty mat (0 < duration ≤ 10 min); with no session
     * running, the next session starts with it. The result arrives as [MonitorState.baseline].
     */
    fun calibrate(duration: Duration = 10.seconds) = mapErrors { native.calibrate(duration.toDouble(DurationUnit.SECONDS)) }

    /**
     * Measures the user's own load while they lie fully and still on the mat for [duration] ("lie fully
     * on the mat for 10 s", once per mat and user): ask them to lie down first, then call it. Suspends
     * until the measurement ends and returns the load in Pa, already in use (keep it with
     * [savePersonalCalibration]); progress shows in [personalCalibrationStatus] meanwhile.
     *
     * Needs a running session whose empty mat is known ([MonitorState.baseline] not missing). Throws
     * [HapticMatException.PersonalCalibration] when no session runs or the measurement was refused — its
     * message says why (nobody on the mat, they moved, no empty-mat baseline, the session ended); the
     * previous calibration, if any, stays in use. Cancelling stops the waiting, not the measurement.
     */
    suspend fun calibrateUser(duration: Duration = PERSONAL_CALIBRATION): Float {
        val statuses = Channel<PersonalCalibrationStatus>(Channel.UNLIMITED)
        // Subscribed before the measurement starts, so even a replay faster than real time cannot end it unseen.
        val handle = native.subscribeState(object : PresenceListener {
            override fun onState(state: MonitorState) {
                statuses.trySend(state.personalCalibration)
            }

            override fun onAbsenceTimeout(absentForS: Double) = Unit
        })
        try {
            mapErrors { native.calibrateUser(duration.toDouble(DurationUnit.SECONDS)) }
            var measuring = false
            for (status in statuses) {
                when {
                    status is PersonalCalibrationStatus.Measuring -> measuring = true
                    !measuring -> Unit
                    status is PersonalCalibrationStatus.Calibrated -> return status.referenceLoadPa
                    status is PersonalCalibrationStatus.Failed -> throw HapticMatException.PersonalCalibration(status.reason)
                    else -> throw HapticMatException.PersonalCalibration("the measurement ended without a result")
                }
            }
            error("unreachable: the status channel is never closed")
        } finally {
            handle.close()
        }
    }

    /**
     * Feeds the phone's barometer, in hPa as Android's `Sensor.TYPE_PRESSURE` reports it, whenever it reads:
     * while someone lies on the mat the core then follows the measured weather instead of a trend. Throws
     * [HapticMatException.InvalidArgument] for a reading that cannot be ambient pressure.
     */
    fun setAmbientPressure(hectopascal: Float) = mapErrors { native.setAmbientPressure(hectopascal * 100.0) }

    /**
     * The user's personal calibration in use, their load lying fully in Pa (`null`: none on this mat).
     * Setting it applies to the running session and the next ones; a value that cannot be a person's load
     * throws [HapticMatException.PersonalCalibration].
     */
    var personalCalibration: Float?
        get() = native.personalCalibration()
        set(value) = mapErrors { native.setPersonalCalibration(value) }

    /** Saves the personal calibration in use to [file] (atomically, folders created): one file per mat and user. */
    suspend fun savePersonalCalibration(file: File) = blocking { native.savePersonalCalibration(file.path) }

    /**
     * Uses the personal calibration saved in [file] and returns it (Pa); with no such file the user has
     * none on this mat, so the one in use is cleared and `null` returned. Throws
     * [HapticMatException.Storage] on an unreadable or invalid file (the one in use stays).
     */
    suspend fun loadPersonalCalibration(file: File): Float? = blocking { native.loadPersonalCalibration(file.path) }

    /** After how long nobody on the mat [absenceTimeouts] fires; `null`: never (default 10 min). */
    var absenceTimeout: Duration?
        get() = native.absenceTimeout()?.seconds
        set(value) = mapErrors { native.setAbsenceTimeout(value?.toDouble(DurationUnit.SECONDS)) }

    /** The current state. */
    val state: MonitorState get() = native.state()

    /** The model in use, if one is loaded. */
    val model: ModelDetails? get() = native.model()

    /** Counts and inference latency (median, p99) of the current or last session. */
    val stats: MonitorStats get() = native.stats()

    /** Live subscriptions in Rust (state and frame collectors); 0 once every collection has ended. */
    val subscriptionCount: Int get() = native.subscriptionCount().toInt()

    /**
     * The current state at once, then every change of presence, connection, session or baseline (not
     * every frame). Every change is kept for a slow collector: there are few per minute.
     */
    val states: Flow<MonitorState> = callbackFlow {
        val handle = native.subscribeState(object : PresenceListener {
            override fun onState(state: MonitorState) {
                trySend(state)
            }

            override fun onAbsenceTimeout(absentForS: Double) = Unit
        })
        awaitClose { handle.close() }
    }.buffer(Channel.UNLIMITED)

    /** The presence state now, then each time it changes. */
    val presence: Flow<PresenceState> = states.map { it.presence }.distinctUntilChanged()

    /** The personal calibration's status now, then each change (a measurement counts down once a second). */
    val personalCalibrationStatus: Flow<PersonalCalibrationStatus> =
        states.map { it.personalCalibration }.distinctUntilChanged()

    /**
     * Fires when nobody has been on the mat for [absenceTimeout] (once per absence), with how long:
     * the app stops its haptic session.
     */
    val absenceTimeouts: Flow<Duration> = callbackFlow {
        val handle = native.subscribeState(object : PresenceListener {
            override fun onState(state: MonitorState) = Unit

            override fun onAbsenceTimeout(absentForS: Double) {
                trySend(absentForS.seconds)
            }
        })
        awaitClose { handle.close() }
    }.buffer(Channel.UNLIMITED)

    /**
     * Every frame from the next one on (~6.7 per second from the mat). A collector slower than the
     * frames loses the oldest: frames are for live charts, states carry the decisions.
     */
    val frames: Flow<MatFrame> = callbackFlow {
        val handle = native.subscribeFrames(object : FrameListener {
            override fun onFrame(frame: MatFrame) {
                trySend(frame)
            }
        })
        awaitClose { handle.close() }
    }.buffer(FRAME_BUFFER, BufferOverflow.DROP_OLDEST)

    /** Stops the session (blocking up to ~1 s for Bluetooth) and frees the native monitor; idempotent. */
    /** Stops the session (without waiting for the disconnect) and frees the native monitor. Never blocks. */
    override fun close() = native.close()

    private suspend fun <T> blocking(call: () -> T): T = withContext(dispatcher) { mapErrors(call) }

    /** Defaults. */
    companion object {
        /** How long the user lies on the mat for their personal calibration. */
        val PERSONAL_CALIBRATION: Duration = 10.seconds

        /** About ten seconds of the mat's frames. */
        private const val FRAME_BUFFER = 64
    }
}
