package io.hapticmat.app.session

import kotlin.time.Duration

/** Where the app's monitoring session stands. */
sealed interface SessionStatus {
    /** No session runs because [reason] keeps it from starting. */
    data class Waiting(val reason: WaitReason) : SessionStatus

    /** The session runs: the core is connected or connecting to the paired mat. */
    data object Running : SessionStatus

    /** Nobody was on the mat for [timeout]: the session was stopped and the app should close. */
    data class EndedAfterAbsence(val timeout: Duration) : SessionStatus

    /** The user stopped the session (the notification's Stop): final, like [EndedAfterAbsence]. */
    data object StoppedByUser : SessionStatus

    /** Whether the session is over for good: nothing restarts it in this process. */
    val isFinal: Boolean get() = this is EndedAfterAbsence || this == StoppedByUser
}

/** Why no session runs yet. */
enum class WaitReason {
    /** Bluetooth is not usable (permission or radio); see the Bluetooth availability. */
    Bluetooth,

    /** No mat is paired. */
    NoMatPaired,
}
