package io.hapticmat.app.settings

import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.notice.Notice
import kotlin.time.Duration

/** What the Settings screen shows. */
sealed interface SettingsUiState {
    /** Nothing known yet. */
    data object Loading : SettingsUiState

    /**
     * Pairing ([pairedMat], [scan]), calibration, and the absence timeout with the choices offered.
     * [bluetoothNotice] is set when Bluetooth is unusable, which disables scanning and calibration.
     */
    data class Ready(
        val pairedMat: DiscoveredMat?,
        val scan: ScanDisplay,
        val calibration: CalibrationDisplay,
        val absenceTimeout: Duration,
        val absenceTimeoutText: String,
        val absenceTimeoutChoices: List<Duration>,
        val bluetoothNotice: Notice?,
        /** Whether automatic model updates wait for Wi-Fi. */
        val updateOnWifiOnly: Boolean = false,
    ) : SettingsUiState {
        /** Whether "Scan for mats" is enabled. */
        val canScan: Boolean get() = bluetoothNotice == null && scan !is ScanDisplay.Scanning

        /** Whether "Calibrate" is enabled: a paired mat, usable Bluetooth, no calibration running. */
        val canCalibrate: Boolean
            get() = bluetoothNotice == null && pairedMat != null && calibration !is CalibrationDisplay.Running
    }
}

/** The BLE scan for mats. */
sealed interface ScanDisplay {
    /** No scan ran since the screen opened. */
    data object Idle : ScanDisplay

    /** Scanning; [mats] found so far, strongest first. */
    data class Scanning(val mats: List<DiscoveredMat>) : ScanDisplay

    /** The scan window ended; [mats] is what was found ([message] explains an empty or failed scan). */
    data class Finished(val mats: List<DiscoveredMat>, val message: String?) : ScanDisplay
}

/** Calibration of the empty mat. */
sealed interface CalibrationDisplay {
    /** Not run since the screen opened. */
    data object Idle : CalibrationDisplay

    /** Capturing the empty-mat baseline; the mat must stay empty. */
    data object Running : CalibrationDisplay

    /** The baseline was stored; [text] says when. */
    data class Done(val text: String) : CalibrationDisplay

    /** No baseline was stored; [notice] says why. */
    data class Failed(val notice: Notice) : CalibrationDisplay
}
