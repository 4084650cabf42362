package io.hapticmat.app.live

import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.Tone

/** What the Live screen shows. */
sealed interface LiveUiState {
    /** Nothing known yet. */
    data object Loading : LiveUiState

    /** No live view is possible until the person acts on [notice] (permission, radio, pairing). */
    data class Blocked(val notice: Notice) : LiveUiState

    /** The session ended after the absence timeout; the app is closing. */
    data class Ended(val notice: Notice) : LiveUiState

    /** The session runs: presence in large type, the link, and the pressure chart. */
    data class Live(
        val presence: PresenceDisplay,
        val connection: ConnectionDisplay,
        val history: PressureHistory,
        val absenceRule: String,
    ) : LiveUiState
}

/**
 * The presence state as shown: [headline] in large type, [confidence] ("93 % sure") when a model decided,
 * [updatedAt] the time of the reading; [isStale] when the mat is not connected and the value is the last
 * one seen; [isPresent] null while nothing is decided.
 */
data class PresenceDisplay(
    val headline: String,
    val confidence: String?,
    val updatedAt: String?,
    val isPresent: Boolean?,
    val isStale: Boolean,
)

/** One line about the link to the mat, and how alarming it is. */
data class ConnectionDisplay(val text: String, val tone: Tone)
