package io.hapticmat.app.ui.sample

import io.hapticmat.app.bluetooth.BluetoothAvailability
import io.hapticmat.app.domain.DiscoveredMat
import io.hapticmat.app.domain.PressureFrame
import io.hapticmat.app.live.ConnectionDisplay
import io.hapticmat.app.live.LiveUiState
import io.hapticmat.app.live.PersonalCalibrationDisplay
import io.hapticmat.app.live.PresenceDisplay
import io.hapticmat.app.live.PressureHistory
import io.hapticmat.app.live.bluetoothNotice
import io.hapticmat.app.model.ModelDisplay
import io.hapticmat.app.model.ModelUiState
import io.hapticmat.app.model.UpdateDisplay
import io.hapticmat.app.notice.Notice
import io.hapticmat.app.notice.Tone
import io.hapticmat.app.settings.CalibrationDisplay
import io.hapticmat.app.settings.ScanDisplay
import io.hapticmat.app.settings.SettingsStateHolder
import io.hapticmat.app.settings.SettingsUiState
import kotlin.math.PI
import kotlin.math.sin
import kotlin.time.Duration.Companion.minutes

/**
 * Fixed screen states for previews and rendered screenshots: the same values on Android Studio's
 * @Preview and on the host JVM, so what the docs show is what the previews show.
 */
object SampleStates {
    /** A paired mat seen in a scan. */
    val mat = DiscoveredMat(id = "E4:5F:01:AA:BB:CC", name = "HapticMat-0042", rssi = -58)

    /**
     * 30 s of a seated person at the mat's ~6.7 Hz: empty-mat levels near 98.2 kPa plus a load of
     * 0.7–1.8 kPa per bladder that breathes at 0.3 Hz (docs/design.md §2's figures), deterministic.
     */
    val seatedHistory: PressureHistory = run {
        val base = listOf(98_180f, 98_195f, 98_205f, 98_170f)
        val load = listOf(1_650f, 1_200f, 900f, 720f)
        (0 until 200).fold(PressureHistory.EMPTY) { history, i ->
            val t = i * 150L
            val breath = sin(2 * PI * 0.3 * t / 1000.0).toFloat()
            val pascals = List(PressureFrame.BLADDERS) { b -> base[b] + load[b] + breath * (60f + 25f * b) }
            history + PressureFrame(1_795_528_992_000L + t, pascals)
        }
    }

    /** Someone sitting, connected, calibrated on this mat. */
    val liveSitting = LiveUiState.Live(
        presence = PresenceDisplay(
            "Sitting",
            "93 % sure",
            "14:03:12",
            isPresent = true,
            isStale = false,
            postureConfidence = "posture 86 % sure",
        ),
        connection = ConnectionDisplay("Connected to HapticMat-0042", Tone.Good),
        history = seatedHistory,
        absenceRule = "Stops after 10 min with nobody on the mat",
        personal = PersonalCalibrationDisplay(
            "Calibrated for you on this mat",
            progress = null,
            notice = null,
            canCalibrate = true,
        ),
    )

    /** Someone on the mat in a posture too unsure to name, being calibrated (6 s of 10 left). */
    val liveCalibrating = liveSitting.copy(
        presence = PresenceDisplay(
            "On the mat",
            "91 % sure",
            "14:03:12",
            isPresent = true,
            isStale = false,
            postureNote = "posture unclear",
            postureConfidence = "posture 55 % sure",
        ),
        personal = PersonalCalibrationDisplay(
            "Measuring — lie still, 6 s left",
            progress = 0.4f,
            notice = null,
            canCalibrate = false,
        ),
    )

    /** The mat went out of range; the last state is shown faded. */
    val liveOutOfRange = liveSitting.copy(
        presence = liveSitting.presence.copy(isStale = true),
        connection = ConnectionDisplay("Mat out of range — move the phone closer (retry 3)", Tone.Problem),
    )

    /** The Bluetooth permission was refused for good. */
    val livePermissionDenied = LiveUiState.Blocked(bluetoothNotice(BluetoothAvailability.PermissionDenied)!!)

    /** Bluetooth is off. */
    val liveBluetoothOff = LiveUiState.Blocked(bluetoothNotice(BluetoothAvailability.BluetoothOff)!!)

    private val model = ModelDisplay(
        name = "presence-cnn",
        version = "1.2.0",
        sequence = 7,
        sha256 = "3f5a9c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a8c0e1b2d4f6a",
        shortSha = "3f5a9c0e1b2d",
        sourceRun = "a1b2c3d4e5f60718",
        installedAt = "2026-11-23 14:03",
    )

    /** An update downloading. */
    val modelUpdating = ModelUiState.Ready(
        model = model,
        latency = "0.42 ms per inference",
        lastCheck = "2026-11-24 13:03",
        update = UpdateDisplay.Running("Downloading 420 kB of 840 kB", 0.5f),
    )

    /** The last update failed for want of a network. */
    val modelUpdateFailed = modelUpdating.copy(
        update = UpdateDisplay.Failed(
            Notice(
                title = "Update failed: no connection",
                detail = "The update server could not be reached. (timed out after 30 s) The current model " +
                    "stays in use. 2026-11-24 14:03.",
                tone = Tone.Problem,
            ),
        ),
    )

    /** Settings during a scan that found two mats. */
    val settingsScanning = SettingsUiState.Ready(
        pairedMat = mat,
        scan = ScanDisplay.Scanning(listOf(mat, DiscoveredMat("E4:5F:01:00:00:07", "HapticMat-0007", -81))),
        calibration = CalibrationDisplay.Done("Calibrated 2026-11-24 14:03"),
        absenceTimeout = 10.minutes,
        absenceTimeoutText = "10 min",
        absenceTimeoutChoices = SettingsStateHolder.ABSENCE_TIMEOUT_CHOICES,
        bluetoothNotice = null,
    )
}
