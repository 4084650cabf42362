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

    /** The session runs: presence in large type, the link, the pressure chart and "Calibrate me". */
    data class Live(
        val presence: PresenceDisplay,
        val connection: ConnectionDisplay,
        val history: PressureHistory,
        val absenceRule: String,
        val personal: PersonalCalibrationDisplay = PersonalCalibrationDisplay.NotCalibrated,
    ) : LiveUiState
}

/**
 * The presence state as shown: [headline] in large type, [confidence] ("93 % sure") when a model decided,
 * [updatedAt] the time of the reading; [isStale] when the mat is not connected and the value is the last
 * one seen; [isPresent] null while nothing is decided. With someone on the mat, [postureConfidence] says
 * how sure the posture is ("posture 85 % sure"); when it is too unsure to name, [headline] is "On the mat"
 * and [postureNote] "posture unclear".
 */
data class PresenceDisplay(
    val headline: String,
    val confidence: String?,
    val updatedAt: String?,
    val isPresent: Boolean?,
    val isStale: Boolean,
    val postureNote: String? = null,
    val postureConfidence: String? = null,
)

/**
 * The "Calibrate me" card: [status] one line about the user's calibration on this mat, [progress] 0..1
 * while measuring, [notice] why the last attempt failed, [canCalibrate] whether the action is enabled.
 */
data class PersonalCalibrationDisplay(
    val status: String,
    val progress: Float?,
    val notice: Notice?,
    val canCalibrate: Boolean,
) {
    /** Texts of the card. */
    companion object {
        /** The action's label. */
        const val ACTION = "Calibrate me (lie fully on the mat for 10 s)"

        /** What to do before tapping it. */
        const val HINT = "Lie down fully on the mat first, then tap and stay still until it is done."

        /** What the card says when the user never calibrated on this mat. */
        const val NOT_CALIBRATED = "Not calibrated for you on this mat yet"

        /** The card when the user never calibrated on this mat and nothing can be measured now. */
        val NotCalibrated = PersonalCalibrationDisplay(NOT_CALIBRATED, progress = null, notice = null, canCalibrate = false)
    }
}

/** One line about the link to the mat, and how alarming it is. */
data class ConnectionDisplay(val text: String, val tone: Tone)
