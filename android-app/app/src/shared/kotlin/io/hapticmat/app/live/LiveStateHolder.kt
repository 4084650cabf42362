package io.hapticmat.app.live

import io.hapticmat.app.WhileUiSubscribed
import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.CalibrationOutcome
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.session.SessionStatus
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.launch
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.flow.runningFold
import kotlinx.coroutines.flow.stateIn
import java.time.ZoneId

/**
 * The Live screen's logic: presence, link and chart from the repository, gated by Bluetooth and pairing,
 * and the user's personal calibration ("Calibrate me").
 *
 * A plain class over [scope] (the ViewModel's scope on Android) so it runs on the host JVM.
 */
class LiveStateHolder(
    private val repository: PresenceRepository,
    bluetooth: BluetoothAccess,
    session: StateFlow<SessionStatus>,
    private val scope: CoroutineScope,
    zone: ZoneId = ZoneId.systemDefault(),
    /** The chart's history; the app passes the process-wide one ([io.hapticmat.app.session.SessionHost.history]). */
    history: Flow<PressureHistory> = repository.frames.runningFold(PressureHistory.EMPTY) { h, frame -> h + frame },
) {
    private val personalRun = MutableStateFlow<PersonalRun>(PersonalRun.Idle)
    private var personalJob: Job? = null

    private val conditions = combine(
        bluetooth.availability,
        repository.pairedMat,
        session,
        repository.absenceTimeout,
        ::LiveConditions,
    )

    // Readings and frames only flow while a session runs: start both empty so the screen shows the link
    // and the waiting state instead of Loading until the first frame.
    private val latestReading = repository.readings.map<PresenceReading, PresenceReading?> { it }.onStart { emit(null) }
    private val history = history

    /** The screen state; upstream flows are collected while the screen is shown and 5 s after. */
    val uiState: StateFlow<LiveUiState> =
        combine(
            conditions,
            repository.connection,
            latestReading,
            history,
            combine(repository.personalCalibration, personalRun, ::PersonalInputs),
        ) { conditions, connection, reading, history, personal ->
            liveUiState(conditions, connection, reading, history, zone, personal)
        }.stateIn(scope, WhileUiSubscribed, LiveUiState.Loading)

    /** "Calibrate me": measures the user lying fully on the mat and stores it for this mat; ignored while one runs. */
    fun calibrateMe() {
        if (personalJob?.isActive == true) return
        personalJob = scope.launch {
            personalRun.value = PersonalRun.Running
            personalRun.value = when (val outcome = repository.calibrateUser()) {
                is CalibrationOutcome.Done -> PersonalRun.Done(outcome.atMillis)
                is CalibrationOutcome.Failed -> PersonalRun.Failed(outcome.detail)
            }
        }
    }
}
