package io.hapticmat.app.domain

import kotlinx.coroutines.flow.Flow
import kotlin.time.Duration

/**
 * Everything the app needs from the mat and the presence core, and nothing about how it is done.
 *
 * The Android app implements it over rust-core's Kotlin facade; tests use a fake. Flows are cold or
 * shared as the implementation likes, but the state flows ([connection], [pairedMat], [absenceTimeout],
 * [modelInfo], [lastUpdateOutcome], [personalCalibration]) emit their current value at once to a new
 * collector. Suspending functions are main-safe; expected failures are returned or reported through
 * [connection], not thrown.
 */
interface PresenceRepository {
    /**
     * Presence decisions of the running session: one at least for every change, usually one per mat
     * frame (repeating the decision with a fresh time); nothing while no session runs.
     */
    val readings: Flow<PresenceReading>

    /** Raw frames of the running session, for the live chart. */
    val frames: Flow<PressureFrame>

    /** The link to the paired mat. */
    val connection: Flow<ConnectionStatus>

    /** The mat this phone is paired with, or null before the user picked one. */
    val pairedMat: Flow<DiscoveredMat?>

    /** How long nobody may be on the mat before the app ends its session and closes. */
    val absenceTimeout: Flow<Duration>

    /** The model in use, or null before any model was installed. */
    val modelInfo: Flow<ModelInfo?>

    /** How the last update check ended, or null if none ever ran on this phone. */
    val lastUpdateOutcome: Flow<UpdateOutcome?>

    /**
     * The user's personal calibration on the paired mat: loaded when a session starts on that mat,
     * [PersonalCalibrationState.Measuring] while [calibrateUser] runs. A state flow.
     */
    val personalCalibration: Flow<PersonalCalibrationState>

    /** Connects to the paired mat and starts producing [readings]; does nothing if a session runs. */
    suspend fun startSession()

    /** Ends the session and disconnects; does nothing if none runs. */
    suspend fun stopSession()

    /** Captures the empty-mat baseline of the paired mat (the user has cleared the mat). */
    suspend fun calibrate(): CalibrationOutcome

    /**
     * Measures the user lying fully on the paired mat for [PersonalCalibrationState.DURATION] (they lie
     * down first) and, on success, stores it for this mat and uses it at once; progress shows in
     * [personalCalibration].
     */
    suspend fun calibrateUser(): CalibrationOutcome

    /** Stores the absence timeout; [absenceTimeout] emits it. */
    suspend fun setAbsenceTimeout(timeout: Duration)

    /** Scans for mats while collected; each emission is every mat seen so far, strongest first. */
    fun scan(): Flow<List<DiscoveredMat>>

    /** Makes [mat] the paired mat; a running session moves over to it. */
    suspend fun pair(mat: DiscoveredMat)

    /** Checks for a newer model and installs it, reporting each step; cancelling the collection stops it. */
    fun updateNow(): Flow<UpdateProgress>

    /** Whether automatic model updates wait for an unmetered network (Wi-Fi); stored, default false. */
    val updateOnWifiOnly: Flow<Boolean>

    /** Stores the "Wi-Fi only" choice; [updateOnWifiOnly] emits it. */
    suspend fun setUpdateOnWifiOnly(wifiOnly: Boolean)

    /**
     * Benchmarks every model the phone holds (the installed one, and the bundled fp32 and int8 when the
     * app carries them), one after the other; throws when none is there or one cannot be run.
     */
    suspend fun benchmarkModels(): List<ModelBenchmark>
}
