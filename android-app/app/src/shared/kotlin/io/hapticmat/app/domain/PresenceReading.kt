package io.hapticmat.app.domain

import kotlin.time.Duration

/**
 * One smoothed presence decision of the running session.
 *
 * [label] is null while the core cannot decide yet (warming up its window, calibrating); [confidence] is
 * the probability the model gave the label, 0..1; [timestampMillis] is wall-clock time of the frame it
 * was computed from; [inferenceLatency] is how long the model call took, when one ran for this reading.
 */
data class PresenceReading(
    val label: PresenceLabel?,
    val confidence: Float,
    val timestampMillis: Long,
    val inferenceLatency: Duration? = null,
)
