package io.hapticmat.app.domain

import kotlin.time.Duration

/**
 * One smoothed presence decision of the running session.
 *
 * [label] is null while the core cannot decide yet (warming up its window, calibrating); [confidence] is
 * the probability the model gave the label, 0..1; [timestampMillis] is wall-clock time of the frame it
 * was computed from; [inferenceLatency] is how long the model call took, when one ran for this reading.
 * [postureConfidence] is, while someone is on the mat, how sure the posture is apart from presence, 0..1
 * (null while absent or undecided): four bladders cannot always tell sitting from lying, and below
 * [POSTURE_CONFIDENT] the app says "on the mat" rather than a posture.
 */
data class PresenceReading(
    val label: PresenceLabel?,
    val confidence: Float,
    val timestampMillis: Long,
    val inferenceLatency: Duration? = null,
    val postureConfidence: Float? = null,
) {
    /** Whether the posture in [label] may be shown: someone is on the mat and the posture is sure enough. */
    val postureIdentifiable: Boolean
        get() = label?.isPresent == true && postureConfidence != null && postureConfidence >= POSTURE_CONFIDENT

    companion object {
        /** The core's threshold (rust-core `monitor::POSTURE_CONFIDENT`) below which a posture is unclear. */
        const val POSTURE_CONFIDENT = 0.7f
    }
}
