package io.hapticmat.app.session

import io.hapticmat.app.bluetooth.BluetoothAccess
import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.PresenceRepository
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.mapNotNull
import kotlinx.coroutines.flow.transformLatest
import kotlinx.coroutines.launch
import kotlin.time.Duration

/**
 * Runs the app's one monitoring session: starts it as soon as Bluetooth is usable and a mat is paired,
 * stops it when either goes away, and ends it for good once nobody has been on the mat for the absence
 * timeout — the product rule that the app stops its haptic session and closes itself (docs/design.md §3).
 *
 * The timer runs on the coroutine clock from the first `absent` reading and is reset by any reading of
 * a person; readings the core cannot decide yet do neither. Changing the timeout restarts a running timer.
 * Plain class over a [CoroutineScope] so the rule is tested on the host JVM with virtual time.
 */
class SessionController(
    private val repository: PresenceRepository,
    private val bluetooth: BluetoothAccess,
    private val scope: CoroutineScope,
) {
    private val mutableStatus = MutableStateFlow<SessionStatus>(SessionStatus.Waiting(WaitReason.Bluetooth))
    private var job: Job? = null

    /** The session's state; [SessionStatus.EndedAfterAbsence] is final and means "close the app". */
    val status: StateFlow<SessionStatus> = mutableStatus.asStateFlow()

    /** Starts supervising in the scope; calling it again does nothing. */
    fun start() {
        if (job != null) return
        job = scope.launch { supervise() }
    }

    /**
     * Ends the session for good at the user's request (the notification's Stop): supervision ends, the
     * repository's session is stopped, and the status becomes [SessionStatus.StoppedByUser]. Ignored once
     * the session is over.
     */
    fun stopByUser() {
        if (mutableStatus.value.isFinal) return
        job?.cancel()
        job = Job().also { it.complete() } // never supervised again
        mutableStatus.value = SessionStatus.StoppedByUser
        scope.launch { repository.stopSession() }
    }

    @OptIn(ExperimentalCoroutinesApi::class)
    private suspend fun supervise() {
        val blocker = combine(bluetooth.availability, repository.pairedMat) { availability, mat ->
            when {
                availability != BluetoothAvailability.Ready -> WaitReason.Bluetooth
                mat == null -> WaitReason.NoMatPaired
                else -> null
            }
        }.distinctUntilChanged()

        // transformLatest drops a running session's timer when the conditions change; first() ends the
        // supervision at the first timeout, so a closed session is never restarted.
        val timeout = blocker.transformLatest { reason ->
            if (reason != null) {
                repository.stopSession()
                mutableStatus.value = SessionStatus.Waiting(reason)
            } else {
                repository.startSession()
                mutableStatus.value = SessionStatus.Running
                emit(awaitAbsenceTimeout())
            }
        }.first()

        repository.stopSession()
        mutableStatus.value = SessionStatus.EndedAfterAbsence(timeout)
    }

    /** Suspends until nobody has been on the mat for the configured timeout; returns that timeout. */
    @OptIn(ExperimentalCoroutinesApi::class)
    private suspend fun awaitAbsenceTimeout(): Duration {
        val someoneThere = repository.readings.mapNotNull { it.label }.map { it.isPresent }.distinctUntilChanged()
        return combine(someoneThere, repository.absenceTimeout.distinctUntilChanged(), ::Pair)
            .transformLatest { (present, timeout) ->
                if (!present) {
                    delay(timeout)
                    emit(timeout)
                }
            }.first()
    }
}
