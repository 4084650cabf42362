package io.hapticmat.app.live

import io.hapticmat.app.domain.PressureFrame

/**
 * The last [capacity] mat frames, oldest first: what the live chart draws.
 *
 * At the mat's ~6.7 frames per second (docs/design.md §2) the default keeps about 30 seconds.
 */
data class PressureHistory(val frames: List<PressureFrame>, val capacity: Int = DEFAULT_CAPACITY) {
    init {
        require(capacity > 0) { "history capacity must be positive, got $capacity" }
    }

    /** This history with [frame] appended and the oldest frames dropped beyond [capacity]. */
    operator fun plus(frame: PressureFrame): PressureHistory {
        val kept = if (frames.size >= capacity) frames.subList(frames.size - capacity + 1, frames.size) else frames
        return copy(frames = kept + frame)
    }

    /**
     * The pressure range the chart's y axis spans, in pascal, or null with no frames.
     *
     * The span is at least [MIN_SPAN_PA]: an empty mat varies by less than a pascal, and stretching that
     * over the whole chart would draw sensor noise as if it were a person breathing.
     */
    fun range(): ClosedFloatingPointRange<Float>? {
        if (frames.isEmpty()) return null
        val low = frames.minOf { f -> f.pascals.min() }
        val high = frames.maxOf { f -> f.pascals.max() }
        val pad = ((MIN_SPAN_PA - (high - low)) / 2).coerceAtLeast(0f)
        return (low - pad)..(high + pad)
    }

    companion object {
        /** Frames kept by default: about 30 s of the mat. */
        const val DEFAULT_CAPACITY = 200

        /** Smallest y-axis span: below a person's breathing (σ 60–230 Pa), above an empty mat's noise. */
        const val MIN_SPAN_PA = 200f

        /** An empty history of the default capacity. */
        val EMPTY = PressureHistory(emptyList())
    }
}
