package io.hapticmat.app.domain

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * The user's personal calibration on the paired mat: their own load lying fully, measured once per mat
 * and user ("lie fully on the mat for 10 s"), which lets a model that reads it tell sitting from lying
 * partially. Stored per mat; the app has one user for now.
 */
sealed interface PersonalCalibrationState {
    /** The user never calibrated on this mat. */
    data object None : PersonalCalibrationState

    /** Measuring the user lying on the mat; [remaining] to go. */
    data class Measuring(val remaining: Duration) : PersonalCalibrationState {
        /** 0..1 of the measurement done. */
        val progress: Float
            get() = (1.0 - remaining / DURATION).toFloat().coerceIn(0f, 1f)
    }

    /** In use: the user's load lying fully, Pa. */
    data class Calibrated(val referenceLoadPa: Float) : PersonalCalibrationState

    /** The last measurement was refused; [detail] is safe to show; [previousInUse] if an older one stays. */
    data class Failed(val detail: String, val previousInUse: Boolean) : PersonalCalibrationState

    companion object {
        /** How long the user lies on the mat. */
        val DURATION: Duration = 10.seconds
    }
}
