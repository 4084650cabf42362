package io.hapticmat.app.testing

import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.ModelBenchmark
import io.hapticmat.app.domain.ModelInfo
import io.hapticmat.app.domain.PersonalCalibrationState
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.domain.UpdateOutcome
import io.hapticmat.app.domain.UpdateProgress
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.transformWhile
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes

/**
 * A [PresenceRepository] a test drives by hand: `send…` pushes what the core would report, and the
 * recorded calls say what the app asked for. Live events (readings, frames, scan results, update steps)
 * are plain shared flows; state values replay the latest one, like the real repository's.
 */
class TestPresenceRepository : PresenceRepository {
    private val readingsFlow = MutableSharedFlow<PresenceReading>()
    private val framesFlow = MutableSharedFlow<PressureFrame>()
    private val connectionFlow = stateLike<ConnectionStatus>()
    private val pairedMatFlow = stateLike<DiscoveredMat?>()
    private val absenceTimeoutFlow = stateLike<Duration>()
    private val modelInfoFlow = stateLike<ModelInfo?>()
    private val lastUpdateOutcomeFlow = stateLike<UpdateOutcome?>()
    private val personalCalibrationFlow = stateLike<PersonalCalibrationState>()

    /** What the next scans report; a test emits lists of mats into it. */
    val scanResults = MutableSharedFlow<List<DiscoveredMat>>()

    /** The steps of the next "update now"; the update ends after a [UpdateProgress.Finished]. */
    val updateSteps = MutableSharedFlow<UpdateProgress>()

    /** When set, "update now" throws this instead of reporting steps. */
    var updateError: Exception? = null

    /** What [calibrate] returns. */
    var calibrationOutcome: CalibrationOutcome = CalibrationOutcome.Done(atMillis = 0)

    /**
     * What [calibrateUser] does: by default it reports a measurement and returns its [CalibrationOutcome];
     * a test may replace it (to suspend until it says, say).
     */
    var userCalibration: suspend () -> CalibrationOutcome = { CalibrationOutcome.Done(atMillis = 0) }

    /** How often [calibrateUser] was called. */
    var userCalibrations = 0
        private set

    /** Every start/stop call, in order: "start" or "stop". */
    val sessionCalls = mutableListOf<String>()

    /** Whether a session runs, after the calls so far. */
    var sessionRunning = false
        private set

    /** How often "update now" was started. */
    var updateRequests = 0
        private set

    /** How often [calibrate] was called. */
    var calibrations = 0
        private set

    /** Mats passed to [pair], in order. */
    val pairedRequests = mutableListOf<DiscoveredMat>()

    init {
        connectionFlow.tryEmit(ConnectionStatus.Idle)
        pairedMatFlow.tryEmit(null)
        absenceTimeoutFlow.tryEmit(10.minutes)
        modelInfoFlow.tryEmit(null)
        lastUpdateOutcomeFlow.tryEmit(null)
        personalCalibrationFlow.tryEmit(PersonalCalibrationState.None)
    }

    override val readings: Flow<PresenceReading> = readingsFlow
    override val frames: Flow<PressureFrame> = framesFlow
    override val connection: Flow<ConnectionStatus> = connectionFlow
    override val pairedMat: Flow<DiscoveredMat?> = pairedMatFlow
    override val absenceTimeout: Flow<Duration> = absenceTimeoutFlow
    override val modelInfo: Flow<ModelInfo?> = modelInfoFlow
    override val lastUpdateOutcome: Flow<UpdateOutcome?> = lastUpdateOutcomeFlow
    override val personalCalibration: Flow<PersonalCalibrationState> = personalCalibrationFlow

    /** Reports a presence reading to current collectors. */
    suspend fun sendReading(reading: PresenceReading) = readingsFlow.emit(reading)

    /** Reports a mat frame to current collectors. */
    suspend fun sendFrame(frame: PressureFrame) = framesFlow.emit(frame)

    /** Sets the link status. */
    fun sendConnection(status: ConnectionStatus) = connectionFlow.tryEmit(status)

    /** Sets the paired mat. */
    fun sendPairedMat(mat: DiscoveredMat?) = pairedMatFlow.tryEmit(mat)

    /** Sets the installed model. */
    fun sendModelInfo(info: ModelInfo?) = modelInfoFlow.tryEmit(info)

    /** Sets the state of the user's personal calibration. */
    fun sendPersonalCalibration(state: PersonalCalibrationState) = personalCalibrationFlow.tryEmit(state)

    /** Sets the persisted outcome of the last update. */
    fun sendLastUpdateOutcome(outcome: UpdateOutcome?) = lastUpdateOutcomeFlow.tryEmit(outcome)

    override suspend fun startSession() {
        sessionCalls += "start"
        sessionRunning = true
    }

    override suspend fun stopSession() {
        sessionCalls += "stop"
        sessionRunning = false
    }

    override suspend fun calibrate(): CalibrationOutcome {
        calibrations++
        return calibrationOutcome
    }

    override suspend fun calibrateUser(): CalibrationOutcome {
        userCalibrations++
        return userCalibration()
    }

    override suspend fun setAbsenceTimeout(timeout: Duration) {
        absenceTimeoutFlow.emit(timeout)
    }

    override fun scan(): Flow<List<DiscoveredMat>> = scanResults

    override val updateOnWifiOnly = MutableStateFlow(false)

    override suspend fun setUpdateOnWifiOnly(wifiOnly: Boolean) {
        updateOnWifiOnly.value = wifiOnly
    }

    /** What [benchmarkModels] returns, or [benchmarkError] it throws; [benchmarkGate] holds it until completed. */
    var benchmarkResult: List<ModelBenchmark> = emptyList()
    var benchmarkError: Exception? = null
    var benchmarkGate: CompletableDeferred<Unit>? = null

    /** How often a benchmark ran. */
    var benchmarks = 0
        private set

    override suspend fun benchmarkModels(): List<ModelBenchmark> {
        benchmarks++
        benchmarkGate?.await()
        benchmarkError?.let { throw it }
        return benchmarkResult
    }

    override suspend fun pair(mat: DiscoveredMat) {
        pairedRequests += mat
        pairedMatFlow.emit(mat)
    }

    override fun updateNow(): Flow<UpdateProgress> = flow {
        updateRequests++
        updateError?.let { throw it }
        updateSteps.collect { emit(it) }
    }.transformWhile { step ->
        emit(step)
        step !is UpdateProgress.Finished
    }

    private fun <T> stateLike() = MutableSharedFlow<T>(replay = 1, onBufferOverflow = BufferOverflow.DROP_OLDEST)
}
