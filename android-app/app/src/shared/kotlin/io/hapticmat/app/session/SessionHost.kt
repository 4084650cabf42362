package io.hapticmat.app.session

import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.domain.ConnectionStatus
import io.hapticmat.app.domain.PresenceReading
import io.hapticmat.app.domain.PresenceRepository
import io.hapticmat.app.live.PressureHistory
import io.hapticmat.app.service.SessionNotification
import io.hapticmat.app.service.sessionNotification
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.flow.runningFold
import kotlinx.coroutines.flow.stateIn

/**
 * The app's one monitoring session for the life of the process, not of a screen: the foreground
 * service starts it and shows [notification]; the screens read [status] and [history]. Leaving the Live
 * screen, locking the phone or putting it in a pocket changes nothing here, and the absence timeout still
 * ends the session ([SessionController]).
 *
 * A plain class over [scope] (the application's) so it runs on the host JVM.
 */
class SessionHost(
    repository: PresenceRepository,
    bluetooth: BluetoothAccess,
    scope: CoroutineScope,
) {
    private val controller = SessionController(repository, bluetooth, scope)

    /** The session's state; final once [SessionStatus.isFinal]. */
    val status: StateFlow<SessionStatus> = controller.status

    /**
     * The chart's pressure history since the process started, collected whatever screen is shown (a
     * screen that opens later shows what came before it).
     */
    val history: StateFlow<PressureHistory> =
        repository.frames.runningFold(PressureHistory.EMPTY) { history, frame -> history + frame }
            .stateIn(scope, SharingStarted.Eagerly, PressureHistory.EMPTY)

    /** What the ongoing notification says now. */
    val notification: StateFlow<SessionNotification> =
        combine(
            status,
            repository.connection.onStart { emit(ConnectionStatus.Idle) },
            repository.readings.map<PresenceReading, PresenceReading?> { it }.onStart { emit(null) },
            repository.absenceTimeout,
            ::sessionNotification,
        ).stateIn(scope, SharingStarted.Eagerly, sessionNotification(status.value, ConnectionStatus.Idle, null, null))

    /** Starts the session's supervision (idempotent): the service calls it when it starts. */
    fun start() = controller.start()

    /** The user's Stop: ends the session for good. */
    fun stopByUser() = controller.stopByUser()
}

/** What owns the process's [SessionHost]: the Application, so the service and the screens share it. */
interface SessionHostOwner {
    /** The one session of this process. */
    val sessionHost: SessionHost
}
