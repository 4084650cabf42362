package io.hapticmat.app.domain

/** How a calibration of the empty mat ended. */
sealed interface CalibrationOutcome {
    /** The empty-mat baseline was captured and stored for this mat at [atMillis]. */
    data class Done(val atMillis: Long) : CalibrationOutcome

    /** No baseline was stored; [detail] is safe to show (not connected, mat not empty, …). */
    data class Failed(val detail: String) : CalibrationOutcome
}
